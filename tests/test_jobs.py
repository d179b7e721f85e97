"""Background jobs: claimed once, effects committed with completion, retried, reclaimed, failed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.db import is_postgresql
from exchange.enums import JobState
from exchange.errors import ConflictError, NotFoundError
from exchange.jobs import (
    ABANDONED_ERROR,
    MAX_ERROR_LENGTH,
    Handler,
    PreparedHandler,
    Worker,
    enqueue,
    failed_jobs,
    job_counts,
    retry_job,
    start_in_process_worker,
)
from exchange.models import Agency, Job

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def add_agency(session: Session, payload: dict[str, Any]) -> None:
    """A handler with a visible effect: one agency row named after the payload."""
    session.add(Agency(code=payload["code"], name=f"Cơ quan {payload['code']}"))
    session.flush()


def agency_codes(session_factory: Any) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(Agency.code).order_by(Agency.code)))


def load_job(session_factory: Any, job_id: int) -> Job:
    with session_factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def put_job(session_factory: Any, kind: str, payload: dict[str, Any], **options: Any) -> int:
    with session_factory() as session:
        job = enqueue(session, kind, payload, **options)
        session.commit()
        return job.id


def make_worker(
    session_factory: Any, handlers: dict[str, Handler], clock: Clock, name: str = "w1", **kw: Any
) -> Worker:
    return Worker(
        session_factory,
        handlers,
        worker_id=name,
        lease_seconds=60,
        backoff_seconds=10,
        clock=clock,
        **kw,
    )


def test_a_job_runs_once_and_is_done(session_factory: Any) -> None:
    clock = Clock()
    calls: list[dict[str, Any]] = []

    def record(session: Session, payload: dict[str, Any]) -> None:
        calls.append(payload)
        add_agency(session, payload)

    job_id = put_job(session_factory, "record", {"code": "A.01"}, now=clock())
    worker = make_worker(session_factory, {"record": record}, clock)
    assert worker.run_once() is True
    assert worker.run_once() is False
    assert calls == [{"code": "A.01"}]
    assert agency_codes(session_factory) == ["A.01"]
    job = load_job(session_factory, job_id)
    assert (job.state, job.attempts, job.locked_by) == (JobState.DONE, 1, "w1")
    assert job.finished_at == T0
    assert job.locked_until is None and job.last_error is None


def test_a_job_waits_for_its_time(session_factory: Any) -> None:
    clock = Clock()
    put_job(session_factory, "record", {"code": "A.02"}, run_after=T0 + timedelta(minutes=5))
    worker = make_worker(session_factory, {"record": add_agency}, clock)
    assert worker.run_once() is False
    clock.advance(300)
    assert worker.run_once() is True
    assert agency_codes(session_factory) == ["A.02"]


def test_effects_and_completion_commit_together(session_factory: Any) -> None:
    clock = Clock()
    outcomes = iter([RuntimeError("máy chủ OCSP không trả lời"), None])

    def flaky(session: Session, payload: dict[str, Any]) -> None:
        add_agency(session, payload)  # written, then the handler fails: must not survive
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    job_id = put_job(session_factory, "flaky", {"code": "B.01"}, now=clock())
    worker = make_worker(session_factory, {"flaky": flaky}, clock)
    assert worker.run_once() is True
    assert agency_codes(session_factory) == []
    job = load_job(session_factory, job_id)
    assert job.state == JobState.QUEUED
    assert job.attempts == 1
    assert job.run_after == T0 + timedelta(seconds=10)
    assert job.last_error == "RuntimeError: máy chủ OCSP không trả lời"
    assert job.locked_by is None and job.locked_until is None

    clock.advance(9)
    assert worker.run_once() is False  # backoff respected
    clock.advance(1)
    assert worker.run_once() is True
    assert agency_codes(session_factory) == ["B.01"]
    job = load_job(session_factory, job_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.DONE, 2, None)


def test_retries_back_off_then_fail_visibly(session_factory: Any) -> None:
    clock = Clock()
    calls: list[datetime] = []

    def broken(session: Session, payload: dict[str, Any]) -> None:
        calls.append(clock())
        raise ValueError("hỏng " + "x" * 5000)

    job_id = put_job(session_factory, "broken", {}, max_attempts=4, now=clock())
    worker = make_worker(session_factory, {"broken": broken}, clock)
    for _ in range(200):
        if not worker.run_once():
            clock.advance(1)
    assert [round((at - T0).total_seconds()) for at in calls] == [0, 10, 30, 70]
    job = load_job(session_factory, job_id)
    assert job.state == JobState.FAILED
    assert job.attempts == 4
    assert job.finished_at == T0 + timedelta(seconds=70)
    assert job.last_error is not None
    assert job.last_error.startswith("ValueError: hỏng xxx")
    assert len(job.last_error) == MAX_ERROR_LENGTH
    assert "Traceback" not in job.last_error
    clock.advance(10_000)
    assert worker.run_once() is False

    with session_factory() as session:
        assert job_counts(session) == {
            JobState.QUEUED: 0,
            JobState.RUNNING: 0,
            JobState.DONE: 0,
            JobState.FAILED: 1,
        }
        assert [failed.id for failed in failed_jobs(session, 10)] == [job_id]
        requeued = retry_job(session, job_id, now=clock())
        assert (requeued.state, requeued.attempts) == (JobState.QUEUED, 0)
    with session_factory() as session, pytest.raises(ConflictError):
        retry_job(session, job_id)
    with session_factory() as session, pytest.raises(NotFoundError):
        retry_job(session, job_id + 1000)
    assert worker.run_once() is True
    assert len(calls) == 5


def test_backoff_is_capped(session_factory: Any) -> None:
    worker = make_worker(session_factory, {}, Clock(), max_backoff_seconds=600)
    assert [worker.backoff_delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 200)] == [
        10,
        20,
        40,
        320,
        600,
        600,
    ]


def test_unknown_kind_fails_at_once(session_factory: Any) -> None:
    clock = Clock()
    job_id = put_job(session_factory, "gui_fax", {"to": "xã Tân Thới"}, now=clock())
    worker = make_worker(session_factory, {"record": add_agency}, clock)
    assert worker.run_once() is True
    job = load_job(session_factory, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.last_error == "không có bộ xử lý cho loại công việc 'gui_fax'"


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_handler_may_not_end_the_transaction(session_factory: Any, ending: str) -> None:
    clock = Clock()

    def ends(session: Session, payload: dict[str, Any]) -> None:
        add_agency(session, payload)
        getattr(session, ending)()
        add_agency(session, {"code": "C.02"})

    job_id = put_job(session_factory, "ends", {"code": "C.01"}, now=clock())
    assert make_worker(session_factory, {"ends": ends}, clock).run_once()
    assert agency_codes(session_factory) == []
    job = load_job(session_factory, job_id)
    assert job.state == JobState.QUEUED
    assert job.last_error is not None and job.last_error.startswith("bộ xử lý")


def test_an_expired_lease_lets_another_worker_take_over(session_factory: Any) -> None:
    clock = Clock()
    calls: list[str] = []

    def record(session: Session, payload: dict[str, Any]) -> None:
        calls.append(payload["code"])
        add_agency(session, payload)

    job_id = put_job(session_factory, "record", {"code": "D.01"}, now=clock())
    vanished = make_worker(session_factory, {"record": record}, clock, name="vanished")
    claim = vanished.claim()  # claimed, then the process "dies": it never finishes
    assert claim is not None and claim.job_id == job_id
    job = load_job(session_factory, job_id)
    assert (job.state, job.locked_by, job.locked_until) == (
        JobState.RUNNING,
        "vanished",
        T0 + timedelta(seconds=60),
    )

    other = make_worker(session_factory, {"record": record}, clock, name="other")
    clock.advance(59)
    assert other.run_once() is False  # still leased
    clock.advance(2)
    assert other.run_once() is True
    job = load_job(session_factory, job_id)
    assert (job.state, job.attempts, job.locked_by) == (JobState.DONE, 2, "other")

    # The first worker comes back to life and tries to finish its stale claim: nothing happens.
    vanished.run_claimed(claim)
    assert calls == ["D.01"]
    assert agency_codes(session_factory) == ["D.01"]
    assert load_job(session_factory, job_id).locked_by == "other"


def test_an_abandoned_last_attempt_fails(session_factory: Any) -> None:
    clock = Clock()
    calls: list[str] = []
    job_id = put_job(session_factory, "record", {"code": "E.01"}, max_attempts=1, now=clock())
    vanished = make_worker(session_factory, {}, clock, name="vanished")
    assert vanished.claim() is not None
    clock.advance(61)
    other = make_worker(
        session_factory, {"record": lambda s, p: calls.append(p["code"])}, clock, name="other"
    )
    assert other.run_once() is False  # nothing left to run: the job failed
    job = load_job(session_factory, job_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.FAILED, 1, ABANDONED_ERROR)
    assert calls == []


def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(session_factory: Any) -> None:
    with session_factory() as session:
        session.add(Agency(code="F.01", name="Cơ quan F"))
        enqueue(session, "record", {"code": "F.02"})
        session.rollback()
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.scalar(select(func.count()).select_from(Agency)) == 0


def test_two_workers_never_run_a_job_twice(session_factory: Any, engine: Any) -> None:
    total = 200
    with session_factory() as session:
        for number in range(total):
            enqueue(session, "record", {"code": f"G.{number:03d}"})
        session.commit()
    runs: list[tuple[str, str, float, float]] = []
    runs_lock = threading.Lock()

    def record(session: Session, payload: dict[str, Any]) -> None:
        started = time.monotonic()
        add_agency(session, payload)
        time.sleep(0.003)
        with runs_lock:
            runs.append(
                (payload["code"], threading.current_thread().name, started, time.monotonic())
            )

    threads = [
        start_in_process_worker(
            session_factory, {"record": record}, worker_id=f"w{n}", idle_sleep=0.02
        )
        for n in range(2)
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_factory() as session:
            if job_counts(session)[JobState.DONE] == total:
                break
        time.sleep(0.05)
    for _, thread_stop in threads:
        thread_stop.set()
    for thread, _ in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    codes = [code for code, *_ in runs]
    assert len(codes) == total
    assert len(set(codes)) == total
    assert len(agency_codes(session_factory)) == total
    with session_factory() as session:
        jobs = list(session.scalars(select(Job)))
    assert {(job.state, job.attempts) for job in jobs} == {(JobState.DONE, 1)}
    if is_postgresql(engine):
        # SQLite serialises writers, and one may starve the other; PostgreSQL shares the work.
        assert {job.locked_by for job in jobs} == {"w0", "w1"}, "both workers took jobs"
        # SKIP LOCKED: the two workers ran handlers at the same time, not one after the other.
        first = [(start, end) for _, name, start, end in runs if name == threads[0][0].name]
        second = [(start, end) for _, name, start, end in runs if name == threads[1][0].name]
        overlapping = sum(
            1 for start, end in first if any(s < end and start < e for s, e in second)
        )
        assert overlapping > total // 10


def test_a_stopping_worker_finishes_its_job(session_factory: Any) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(session: Session, payload: dict[str, Any]) -> None:
        started.set()
        assert release.wait(30)
        add_agency(session, payload)

    job_id = put_job(session_factory, "slow", {"code": "H.01"})
    thread, stop = start_in_process_worker(session_factory, {"slow": slow}, idle_sleep=0.02)
    assert started.wait(30)
    stop.set()
    release.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert load_job(session_factory, job_id).state == JobState.DONE
    assert agency_codes(session_factory) == ["H.01"]


def test_a_prepared_handler_does_its_slow_part_holding_no_lock(session_factory: Any) -> None:
    """While `prepare` runs, another writer commits at once (SQLite serialises writers)."""
    clock = Clock()

    def prepare(sessions: Any, payload: dict[str, Any]) -> str:
        # A web request writing meanwhile: it would wait on a lock held by the worker.
        with sessions() as other:
            other.add(Agency(code="WEB.REQUEST", name="Ghi song song"))
            other.commit()
        return str(payload["code"]).lower()

    def apply(session: Session, payload: dict[str, Any], prepared: str) -> None:
        add_agency(session, {"code": f"{payload['code']}.{prepared.upper()}"})

    handler = PreparedHandler(prepare=prepare, apply=apply)
    job_id = put_job(session_factory, "two-step", {"code": "P"}, now=clock())
    worker = make_worker(session_factory, {"two-step": handler}, clock)
    started = time.monotonic()
    assert worker.run_once()
    assert time.monotonic() - started < 10  # not a busy-timeout wait
    assert agency_codes(session_factory) == ["P.P", "WEB.REQUEST"]
    assert load_job(session_factory, job_id).state == JobState.DONE


def test_a_failing_prepare_is_retried_like_any_handler(session_factory: Any) -> None:
    clock = Clock()

    def prepare(sessions: Any, payload: dict[str, Any]) -> None:
        raise RuntimeError("dịch vụ OCSP không trả lời")

    handler = PreparedHandler(prepare=prepare, apply=lambda session, payload, prepared: None)
    job_id = put_job(session_factory, "two-step", {}, now=clock())
    assert make_worker(session_factory, {"two-step": handler}, clock).run_once()
    job = load_job(session_factory, job_id)
    assert job.state == JobState.QUEUED and job.attempts == 1
    assert job.last_error == "RuntimeError: dịch vụ OCSP không trả lời"
    assert job.run_after == T0 + timedelta(seconds=10)
