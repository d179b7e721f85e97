"""Background jobs: enqueued in the caller's transaction, claimed by workers, run exactly once.

A job's effects commit in the same transaction that marks it done, while that transaction holds
the job's row and has checked the claim is still its own. Two transactions cannot both do that
for one job, so a job's effects commit at most once; a worker that dies mid-job leaves nothing
but its claim, which another worker takes over once the lease has passed, so none is lost.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import is_postgresql, utcnow
from exchange.enums import JobState
from exchange.errors import ConflictError, ExchangeError, NotFoundError, ValidationError
from exchange.models import Job

log = logging.getLogger("congvan.jobs")

JobFunction = Callable[[Session, dict[str, Any]], None]
"""Does a job's work in the Session it is given, which is already in a transaction.

A handler must not commit or roll back: the worker commits its effects together with the job's
completion, or rolls them back when it raises. Raise to ask for a retry with backoff.
"""


@dataclass(frozen=True)
class PreparedHandler:
    """A handler whose slow part runs before the job's transaction, holding no lock.

    `prepare(session_factory, payload)` may read in short sessions of its own and then do slow,
    side-effect-free work (verifying a PDF); `apply(session, payload, prepared)` then runs in the
    job's transaction like any handler. On SQLite, whose writers are serialised, this keeps the
    service answering while the worker verifies.
    """

    prepare: Callable[[sessionmaker[Session], dict[str, Any]], Any]
    apply: Callable[[Session, dict[str, Any], Any], None]


Handler = JobFunction | PreparedHandler

MAX_ERROR_LENGTH = 2000
MAX_BACKOFF_SECONDS = 3600.0
ABANDONED_ERROR = (
    "tiến trình xử lý đã dừng giữa chừng (hết thời hạn giữ việc) ở lần thử cuối cùng; "
    "không thử lại nữa"
)


def enqueue(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    max_attempts: int = 5,
    run_after: datetime | None = None,
    now: datetime | None = None,
) -> Job:
    """Add a queued job in the caller's transaction; the caller commits it with its own change."""
    if not kind or len(kind) > 64:
        raise ValidationError("loại công việc phải dài từ 1 đến 64 ký tự")
    if max_attempts < 1:
        raise ValidationError("số lần thử tối đa phải ít nhất là 1")
    try:
        data = json.loads(json.dumps(dict(payload)))
    except (TypeError, ValueError) as error:
        raise ValidationError(f"dữ liệu công việc không chuyển được sang JSON: {error}") from None
    moment = now or utcnow()
    job = Job(
        kind=kind,
        payload=data,
        state=JobState.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or moment,
        created_at=moment,
    )
    session.add(job)
    session.flush()
    return job


@dataclass(frozen=True)
class Claim:
    """A job a worker has claimed: its claim is (worker id, attempt number)."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


_HANDLER_RUNNING = "congvan_job_handler_running"


class HandlerContractError(RuntimeError):
    """A handler committed or rolled back the transaction the worker gave it."""


def _refuse_commit(session: Session) -> None:
    if session.info.get(_HANDLER_RUNNING):
        raise HandlerContractError("bộ xử lý công việc không được tự commit giao dịch")


def describe_error(error: BaseException) -> str:
    """The exception's message for `last_error`: no traceback, bounded length."""
    if isinstance(error, ExchangeError):
        text = error.detail
    elif isinstance(error, HandlerContractError):
        text = str(error)
    else:
        message = str(error)
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 1] + "…"
    return text


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims due jobs one at a time and runs their handlers; one instance per thread."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        lease_seconds: float = 300.0,
        backoff_seconds: float = 5.0,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.session_factory = session_factory
        self.handlers = dict(handlers)
        self.worker_id = (worker_id or default_worker_id())[:128]
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.clock = clock

    # --- the loop ---

    def run_once(self) -> bool:
        """Claim and process one due job; False when none was due."""
        claim = self.claim()
        if claim is None:
            return False
        self.run_claimed(claim)
        return True

    def run_claimed(self, claim: Claim) -> None:
        """Run a claimed job's handler; nothing happens if the claim is no longer ours."""
        handler = self.handlers.get(claim.kind)
        if handler is None:
            self._finish_failed(claim, f"không có bộ xử lý cho loại công việc {claim.kind!r}")
            return
        try:
            self._run(claim, handler)
        except Exception as error:
            self._record_failure(claim, error)

    def run_until_idle(self, max_jobs: int | None = None) -> int:
        """Process due jobs until none is left (or `max_jobs`); return how many were processed."""
        count = 0
        while (max_jobs is None or count < max_jobs) and self.run_once():
            count += 1
        return count

    def run(self, stop: threading.Event, idle_sleep: float = 0.5, batch: int = 100) -> None:
        """Process jobs until `stop` is set; a job under way is always finished first.

        `batch` jobs at most run back to back before the loop looks at `stop` without waiting.
        Database errors outside a handler (the server restarting, SQLite busy) are logged and the
        loop waits before trying again, backing off to 30 s.
        """
        log.info("bộ xử lý nền %s bắt đầu", self.worker_id)
        pause = idle_sleep
        while not stop.is_set():
            try:
                processed = 0
                while processed < batch and not stop.is_set() and self.run_once():
                    processed += 1
            except Exception as error:
                log.warning(
                    "bộ xử lý nền %s gặp lỗi, thử lại sau %.1f giây: %s",
                    self.worker_id,
                    pause,
                    describe_error(error),
                )
                log.debug("worker loop error", exc_info=error)
                stop.wait(pause)
                pause = min(max(pause, 0.1) * 2, 30.0)
                continue
            pause = idle_sleep
            if processed == 0:
                stop.wait(idle_sleep)
        log.info("bộ xử lý nền %s đã dừng", self.worker_id)

    # --- the three transactions ---

    def claim(self) -> Claim | None:
        """Take one due job in a short transaction: queued and due, or running past its lease."""
        with self.session_factory() as session, session.begin():
            now = self.clock()
            while True:
                query = (
                    select(Job)
                    .where(
                        or_(
                            and_(Job.state == JobState.QUEUED, Job.run_after <= now),
                            and_(Job.state == JobState.RUNNING, Job.locked_until < now),
                        )
                    )
                    .order_by(Job.run_after, Job.id)
                    .limit(1)
                )
                if is_postgresql(session):
                    query = query.with_for_update(skip_locked=True)
                job = session.scalars(query).first()
                if job is None:
                    return None
                if job.state == JobState.RUNNING and job.attempts >= job.max_attempts:
                    log.warning(
                        "công việc %s (%s): %s bị dừng ở lần thử cuối; đánh dấu thất bại",
                        job.id,
                        job.kind,
                        job.locked_by,
                    )
                    self._mark_failed(job, ABANDONED_ERROR, now)
                    session.flush()
                    continue
                if job.state == JobState.RUNNING:
                    log.warning(
                        "công việc %s (%s): %s hết thời hạn giữ việc; nhận xử lý lại",
                        job.id,
                        job.kind,
                        job.locked_by,
                    )
                job.state = JobState.RUNNING
                job.attempts += 1
                job.locked_by = self.worker_id
                job.locked_until = now + self.lease
                return Claim(
                    job_id=job.id,
                    kind=job.kind,
                    payload=dict(job.payload),
                    attempts=job.attempts,
                    max_attempts=job.max_attempts,
                )

    def _lock_own(self, session: Session, claim: Claim) -> Job | None:
        """The job's row, locked, if the claim on it is still this worker's; else None."""
        query = select(Job).where(Job.id == claim.job_id).execution_options(populate_existing=True)
        if is_postgresql(session):
            query = query.with_for_update()
        job = session.scalars(query).first()
        if (
            job is None
            or job.state != JobState.RUNNING
            or job.locked_by != self.worker_id
            or job.attempts != claim.attempts
        ):
            return None
        return job

    def _run(self, claim: Claim, handler: Handler) -> None:
        """Run the handler and mark the job done in one transaction, committed once."""
        prepared: Any = None
        if isinstance(handler, PreparedHandler):
            prepared = handler.prepare(self.session_factory, dict(claim.payload))
        with self.session_factory() as session:
            event.listen(session, "before_commit", _refuse_commit)
            try:
                # Locking first keeps other workers (SKIP LOCKED) off the job while it runs,
                # even if the lease runs out meanwhile.
                if self._lock_own(session, claim) is None:
                    session.rollback()
                    log.warning("công việc %s: đã có bộ xử lý khác nhận; bỏ qua", claim.job_id)
                    return
                transaction = session.get_transaction()
                session.info[_HANDLER_RUNNING] = True
                try:
                    if isinstance(handler, PreparedHandler):
                        handler.apply(session, dict(claim.payload), prepared)
                    else:
                        handler(session, dict(claim.payload))
                finally:
                    session.info[_HANDLER_RUNNING] = False
                if session.get_transaction() is not transaction:
                    raise HandlerContractError(
                        f"bộ xử lý {claim.kind!r} đã tự kết thúc giao dịch (không được phép)"
                    )
                session.flush()
                job = self._lock_own(session, claim)
                if job is None:
                    # Our effects must not commit when someone else owns the job now.
                    session.rollback()
                    log.warning("công việc %s: mất quyền xử lý; hủy kết quả", claim.job_id)
                    return
                job.state = JobState.DONE
                job.finished_at = self.clock()
                job.locked_until = None
                job.last_error = None
                session.commit()
            except BaseException:
                session.rollback()
                raise
        log.info("công việc %s (%s) xong ở lần thử %s", claim.job_id, claim.kind, claim.attempts)

    def _record_failure(self, claim: Claim, error: Exception) -> None:
        """After a handler raised (its transaction rolled back): retry later, or give up."""
        message = describe_error(error)
        log.debug("job %s handler error", claim.job_id, exc_info=error)
        with self.session_factory() as session, session.begin():
            job = self._lock_own(session, claim)
            if job is None:
                return
            now = self.clock()
            job.last_error = message
            if job.attempts >= job.max_attempts:
                self._mark_failed(job, message, now)
                log.warning(
                    "công việc %s (%s) thất bại sau %s lần thử: %s",
                    job.id,
                    job.kind,
                    job.attempts,
                    message,
                )
                return
            delay = self.backoff_delay(job.attempts)
            job.state = JobState.QUEUED
            job.run_after = now + delay
            job.locked_by = None
            job.locked_until = None
            log.warning(
                "công việc %s (%s) lỗi ở lần thử %s/%s, thử lại sau %.0f giây: %s",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                delay.total_seconds(),
                message,
            )

    def _finish_failed(self, claim: Claim, message: str) -> None:
        with self.session_factory() as session, session.begin():
            job = self._lock_own(session, claim)
            if job is None:
                return
            self._mark_failed(job, message, self.clock())
        log.warning("công việc %s thất bại: %s", claim.job_id, message)

    def backoff_delay(self, attempts: int) -> timedelta:
        """The wait before attempt `attempts + 1`: doubling from `backoff_seconds`, capped."""
        seconds = self.backoff_seconds * 2 ** min(max(attempts - 1, 0), 30)
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))

    @staticmethod
    def _mark_failed(job: Job, message: str, now: datetime) -> None:
        job.state = JobState.FAILED
        job.last_error = message
        job.finished_at = now
        job.locked_until = None


# --- for operators ---


def start_in_process_worker(
    session_factory: sessionmaker[Session],
    handlers: Mapping[str, Handler],
    *,
    worker_id: str | None = None,
    lease_seconds: float = 300.0,
    backoff_seconds: float = 5.0,
    idle_sleep: float = 0.5,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[threading.Thread, threading.Event]:
    """Start one worker thread; set the event and join the thread to stop it after its job.

    `congvan serve` runs one such thread, enough for the embedded SQLite default; production
    runs `congvan worker` processes instead.
    """
    worker = Worker(
        session_factory,
        handlers,
        worker_id=worker_id,
        lease_seconds=lease_seconds,
        backoff_seconds=backoff_seconds,
        clock=clock,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run,
        args=(stop,),
        kwargs={"idle_sleep": idle_sleep},
        name=f"congvan-worker {worker.worker_id}",
        daemon=True,
    )
    thread.start()
    return thread, stop


def job_counts(session: Session) -> dict[JobState, int]:
    """How many jobs are in each state (every state present, zero included)."""
    counts = dict.fromkeys(JobState, 0)
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    for state, count in rows:
        counts[JobState(state)] = int(count)
    return counts


def failed_jobs(session: Session, limit: int = 50) -> list[Job]:
    """The most recently failed jobs, newest first."""
    query = (
        select(Job)
        .where(Job.state == JobState.FAILED)
        .order_by(Job.finished_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def retry_job(session: Session, job_id: int, *, now: datetime | None = None) -> Job:
    """Put a failed job back in the queue with a fresh set of attempts; commits."""
    query = select(Job).where(Job.id == job_id)
    if is_postgresql(session):
        query = query.with_for_update()
    job = session.scalars(query).first()
    if job is None:
        raise NotFoundError(f"không có công việc số {job_id}")
    if job.state != JobState.FAILED:
        raise ConflictError(
            f"công việc số {job_id} đang ở trạng thái {job.state.value}, "
            "chỉ thử lại được công việc đã thất bại"
        )
    job.state = JobState.QUEUED
    job.attempts = 0
    job.run_after = now or utcnow()
    job.locked_by = None
    job.locked_until = None
    job.finished_at = None
    session.commit()
    return job
