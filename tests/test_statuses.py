"""Delivery status rules (pure): what a receiving office may do from each status."""

from __future__ import annotations

import pytest

from exchange.enums import DeliveryStatus as S
from exchange.errors import ConflictError, ValidationError
from exchange.statuses import (
    check_recall_answer,
    check_receiver_step,
    overall_status,
    parse_status,
)

ALLOWED = [
    (S.ARRIVED, S.REGISTERED),
    (S.ARRIVED, S.REFUSED),
    (S.REGISTERED, S.ASSIGNED),
    (S.REGISTERED, S.IN_PROGRESS),
    (S.REGISTERED, S.COMPLETED),
    (S.ASSIGNED, S.ASSIGNED),  # reassigned to someone else
    (S.ASSIGNED, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.COMPLETED),
]

REFUSED = [
    (S.PENDING, S.REGISTERED),  # not verified yet
    (S.REFUSED, S.REGISTERED),
    (S.ARRIVED, S.ASSIGNED),  # must be registered first
    (S.ARRIVED, S.COMPLETED),
    (S.REGISTERED, S.REFUSED),  # refusing comes before registering
    (S.REGISTERED, S.REGISTERED),  # a second incoming number
    (S.IN_PROGRESS, S.ASSIGNED),
    (S.COMPLETED, S.IN_PROGRESS),
    (S.RECALL_REQUESTED, S.REGISTERED),
    (S.RECALL_ACCEPTED, S.REGISTERED),
]


@pytest.mark.parametrize(("current", "new"), ALLOWED)
def test_allowed_steps(current: S, new: S) -> None:
    check_receiver_step(current, new, [current], reason="lý do")


@pytest.mark.parametrize(("current", "new"), REFUSED)
def test_refused_steps_are_conflicts(current: S, new: S) -> None:
    with pytest.raises(ConflictError):
        check_receiver_step(current, new, [current], reason="lý do")


@pytest.mark.parametrize("new", [S.PENDING, S.ARRIVED, S.RECALL_REQUESTED, S.RECALL_ACCEPTED])
def test_statuses_a_clerk_does_not_set(new: S) -> None:
    with pytest.raises(ValidationError):
        check_receiver_step(S.ARRIVED, new, [S.ARRIVED], reason=None)


def test_refusal_needs_a_reason() -> None:
    with pytest.raises(ValidationError) as caught:
        check_receiver_step(S.ARRIVED, S.REFUSED, [S.ARRIVED], reason="  ")
    assert "reason" in caught.value.errors


def test_after_refusing_a_recall_work_goes_on_from_where_it_stood() -> None:
    history = [S.PENDING, S.ARRIVED, S.REGISTERED, S.RECALL_REQUESTED, S.RECALL_REFUSED]
    check_receiver_step(S.RECALL_REFUSED, S.ASSIGNED, history, reason=None)
    with pytest.raises(ConflictError):
        check_receiver_step(S.RECALL_REFUSED, S.REGISTERED, history, reason=None)


def test_recall_answers() -> None:
    assert check_recall_answer(S.RECALL_REQUESTED, True, None) is S.RECALL_ACCEPTED
    assert check_recall_answer(S.RECALL_REQUESTED, False, "đang xử lý") is S.RECALL_REFUSED
    with pytest.raises(ValidationError):
        check_recall_answer(S.RECALL_REQUESTED, False, "")
    with pytest.raises(ConflictError):
        check_recall_answer(S.REGISTERED, True, None)


def test_parse_status() -> None:
    assert parse_status("03") is S.REGISTERED
    with pytest.raises(ValidationError):
        parse_status("07")
    with pytest.raises(ValidationError):
        parse_status("pending")


def test_overall_status_counts_and_sentence() -> None:
    summary = overall_status([S.ARRIVED, S.REGISTERED, S.REGISTERED, S.REFUSED])
    assert summary["counts"] == {"01": 1, "03": 2, "02": 1}
    assert summary["summary"] == "gửi 4 nơi: 1 đã đến, 1 bị từ chối, 2 đã vào sổ"
    assert summary["all_answered"] is True
    assert overall_status([S.PENDING])["all_answered"] is False
