"""`congvan worker` and `congvan jobs`: run background jobs, and look at them as an operator.

`congvan serve` runs one worker thread in-process instead (`start_in_process_worker`), which is
enough for the embedded SQLite default; production runs any number of `congvan worker` processes
against PostgreSQL.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

import click

from exchange.cli_errors import fail, friendly_errors
from exchange.config import debug_from_env
from exchange.db import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from exchange.config import Settings
    from exchange.jobs import Handler

log = logging.getLogger("congvan.jobs")

STATE_NAMES = {
    "queued": "đang chờ",
    "running": "đang chạy",
    "done": "đã xong",
    "failed": "thất bại",
}


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
    """Start one worker thread; set the event and join the thread to stop it after its job."""
    from exchange.jobs import Worker

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


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """The configured database, refused unless it answers and is migrated to the newest schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from exchange.db import make_engine
    from exchange.migrate import pending_revisions

    engine = make_engine(settings.effective_database_url)
    try:
        try:
            behind = pending_revisions(engine)
        except SQLAlchemyError as error:
            fail(f"không kết nối được cơ sở dữ liệu: {_first_line(error)}")
        if behind:
            fail(
                "cơ sở dữ liệu chưa được nâng cấp lên lược đồ mới nhất; "
                "hãy chạy `congvan migrate` trước"
            )
        yield engine
    finally:
        engine.dispose()


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _settings() -> Settings:
    from exchange.config import settings_from_env
    from exchange.errors import ExchangeError

    try:
        settings = settings_from_env().check()
    except ExchangeError as error:
        fail(error.detail)
    if settings.job_lease_seconds <= 0:
        fail("CONGVAN_JOB_LEASE_SECONDS phải là số dương")
    if settings.job_backoff_seconds < 0:
        fail("CONGVAN_JOB_BACKOFF_SECONDS không được âm")
    return settings


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT ask the loop to stop once the current job is finished."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            click.echo("congvan: đang dừng sau khi xong việc hiện tại…", err=True)
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@click.command("worker")
@click.option("--once", is_flag=True, help="Xử lý các công việc đã đến hạn rồi thoát.")
@click.option(
    "--idle-sleep",
    type=click.FloatRange(min=0.01, max=3600),
    default=0.5,
    show_default=True,
    help="Số giây chờ khi không có việc.",
)
@click.option("--id", "worker_id", help="Tên của bộ xử lý (mặc định: máy:pid:ngẫu nhiên).")
@friendly_errors
def worker_command(once: bool, idle_sleep: float, worker_id: str | None) -> None:
    """Chạy bộ xử lý công việc nền (kiểm tra văn bản đến, ...) cho đến khi bị dừng."""
    from exchange.db import make_session_factory
    from exchange.errors import ExchangeError
    from exchange.jobs import Worker

    if worker_id is not None and not 1 <= len(worker_id) <= 100:
        fail("tên bộ xử lý (--id) phải dài từ 1 đến 100 ký tự")
    if not debug_from_env():
        logging.getLogger("congvan").setLevel(logging.INFO)
    settings = _settings()
    with _database(settings) as engine:
        try:
            from exchange.handlers import job_handlers
            from exchange.runtime import make_runtime

            handlers = job_handlers(make_runtime(settings))
        except ExchangeError as error:
            fail(error.detail)
        worker = Worker(
            make_session_factory(engine),
            handlers,
            worker_id=worker_id,
            lease_seconds=settings.job_lease_seconds,
            backoff_seconds=settings.job_backoff_seconds,
        )
        if once:
            count = worker.run_until_idle()
            click.echo(f"congvan: đã xử lý {count} công việc", err=True)
            return
        stop = threading.Event()
        click.echo(f"congvan: bộ xử lý nền {worker.worker_id} đang chạy", err=True)
        with _stop_on_signals(stop):
            worker.run(stop, idle_sleep=idle_sleep)
        click.echo(f"congvan: bộ xử lý nền {worker.worker_id} đã dừng", err=True)


@click.group("jobs")
def jobs_group() -> None:
    """Xem và thử lại các công việc nền."""


@jobs_group.command("list")
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=1000),
    default=20,
    show_default=True,
    help="Số công việc thất bại tối đa được liệt kê.",
)
@friendly_errors
def jobs_list_command(limit: int) -> None:
    """In số công việc theo trạng thái và các công việc thất bại gần nhất."""
    from exchange.db import make_session_factory
    from exchange.jobs import failed_jobs, job_counts

    with _database(_settings()) as engine, make_session_factory(engine)() as session:
        counts = job_counts(session)
        for state, count in counts.items():
            click.echo(f"{STATE_NAMES[state.value]}: {count}")
        failed = failed_jobs(session, limit)
        if failed:
            click.echo()
            click.echo("Công việc thất bại (mới nhất trước):")
        for job in failed:
            when = job.finished_at.isoformat(timespec="seconds") if job.finished_at else "?"
            click.echo(
                f"  #{job.id} {job.kind} {when} sau {job.attempts} lần thử: {job.last_error or ''}"
            )


@jobs_group.command("retry")
@click.argument("job_id", type=click.IntRange(min=1))
@friendly_errors
def jobs_retry_command(job_id: int) -> None:
    """Đưa một công việc thất bại trở lại hàng đợi."""
    from exchange.db import make_session_factory
    from exchange.errors import ExchangeError
    from exchange.jobs import retry_job

    with _database(_settings()) as engine, make_session_factory(engine)() as session:
        try:
            job = retry_job(session, job_id)
        except ExchangeError as error:
            fail(error.detail)
        click.echo(f"congvan: công việc #{job.id} ({job.kind}) đã được đưa lại vào hàng đợi")
