"""Which delivery status may follow which, and who may set it: pure rules, no I/O.

Codes are edXML's (DOMAIN.md, "Statuses"). `pending` is ours: the receiving side is verifying.
"""

from __future__ import annotations

from collections.abc import Sequence

from exchange.enums import DeliveryStatus as S
from exchange.errors import ConflictError, ValidationError

STATUS_NAMES: dict[S, str] = {
    S.PENDING: "đang kiểm tra chữ ký",
    S.ARRIVED: "đã đến",
    S.REFUSED: "bị từ chối",
    S.REGISTERED: "đã vào sổ",
    S.ASSIGNED: "đã phân công",
    S.IN_PROGRESS: "đang xử lý",
    S.COMPLETED: "đã hoàn thành",
    S.RECALL_REQUESTED: "bên gửi xin thu hồi",
    S.RECALL_ACCEPTED: "đồng ý thu hồi",
    S.RECALL_REFUSED: "từ chối thu hồi",
}

# The receiving office's own steps, in order of progress.
WORK_ORDER: tuple[S, ...] = (S.ARRIVED, S.REGISTERED, S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED)

# Statuses a receiving clerk sets by hand (01 and the pending → 01/02 step belong to the verifier).
RECEIVER_STEPS = frozenset({S.REFUSED, S.REGISTERED, S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED})

# Deliveries the sender may still ask to take back.
RECALLABLE = frozenset({S.PENDING, *WORK_ORDER})

REASON_REQUIRED = frozenset({S.REFUSED, S.RECALL_REFUSED})


def parse_status(code: str) -> S:
    """The status for an edXML code ("03") or our name; ValidationError for anything else."""
    try:
        status = S(code)
        if status is S.PENDING:
            raise ValueError(code)
        return status
    except ValueError:
        known = ", ".join(status.value for status in S if status is not S.PENDING)
        raise ValidationError(
            f"mã trạng thái không hợp lệ: {code!r} (các mã: {known})",
            errors={"status": "mã trạng thái không hợp lệ"},
        ) from None


def work_status(history: Sequence[S]) -> S | None:
    """The last step of the receiving office's own work, ignoring the recall exchange."""
    for status in reversed(history):
        if status in WORK_ORDER:
            return status
    return None


def check_receiver_step(current: S, new: S, history: Sequence[S], reason: str | None) -> None:
    """Refuse a status change the receiving office may not make from `current`."""
    if new not in RECEIVER_STEPS:
        raise ValidationError(
            f"văn thư không tự đặt trạng thái {new.value} ({STATUS_NAMES[new]})",
            errors={"status": "không được đặt trạng thái này"},
        )
    if new in REASON_REQUIRED and not (reason and reason.strip()):
        raise ValidationError("từ chối văn bản phải có lý do", errors={"reason": "cần ghi lý do"})
    if current is S.RECALL_REFUSED:
        # Having kept the document, the office goes on from where its work stood.
        current = work_status(history) or S.ARRIVED
    if current not in WORK_ORDER:
        raise ConflictError(
            f"văn bản đang ở trạng thái {current.value} ({STATUS_NAMES[current]}): "
            f"không chuyển sang {new.value} ({STATUS_NAMES[new]}) được"
        )
    if new is S.REFUSED:
        if current is not S.ARRIVED:
            raise ConflictError("chỉ từ chối được văn bản vừa đến (01), trước khi vào sổ")
        return
    position, target = WORK_ORDER.index(current), WORK_ORDER.index(new)
    if target < position or (target == position and new is not S.ASSIGNED):
        raise ConflictError(
            f"văn bản đã ở trạng thái {current.value} ({STATUS_NAMES[current]}): "
            f"không quay lại {new.value} ({STATUS_NAMES[new]}) được"
        )
    if current is S.ARRIVED and new is not S.REGISTERED:
        raise ConflictError("văn bản phải được vào sổ (03) trước khi phân công hay xử lý")


def check_recall_answer(current: S, accept: bool, reason: str | None) -> S:
    """The answer to a recall request: 15 accepted or 16 refused (with a reason)."""
    if current is not S.RECALL_REQUESTED:
        raise ConflictError(
            f"bên gửi không xin thu hồi văn bản này (trạng thái {current.value}: "
            f"{STATUS_NAMES[current]})"
        )
    if not accept and not (reason and reason.strip()):
        raise ValidationError("từ chối thu hồi phải có lý do", errors={"reason": "cần ghi lý do"})
    return S.RECALL_ACCEPTED if accept else S.RECALL_REFUSED


def overall_status(statuses: Sequence[S]) -> dict[str, object]:
    """The sender's summary of a fan-out: counts per status and one Vietnamese sentence."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.value] = counts.get(status.value, 0) + 1
    parts = [
        f"{count} {STATUS_NAMES[S(code)]}"
        for code, count in sorted(counts.items(), key=lambda item: _order(S(item[0])))
    ]
    total = len(statuses)
    summary = f"gửi {total} nơi: " + ", ".join(parts) if total else "chưa gửi"
    done = total > 0 and all(status is not S.PENDING for status in statuses)
    return {"total": total, "counts": counts, "summary": summary, "all_answered": done}


def _order(status: S) -> int:
    return list(S).index(status)
