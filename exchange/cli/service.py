"""`congvan serve` and `congvan worker`: running the service and its background jobs.

`serve` is the whole service in one process, ready on a fresh machine. With no environment
variables it runs in development mode: SQLite and files under ./congvan-data, migrations applied,
the development data set loaded, the development TSA, OCSP and CRL served in-process, one
background worker thread (`start_in_process_worker`, exchange/jobs.py), and a threaded HTTP
server on 127.0.0.1. Production runs gunicorn (`gunicorn 'exchange.wsgi:app'`) and any number of
`congvan worker` processes against PostgreSQL instead.

The HTTP server is werkzeug's threaded server, which Flask already brings: enough for one
machine's embedded use, with no dependency added for a mode production does not use.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from types import FrameType
from typing import TYPE_CHECKING

import click

from exchange.cli.database import load_job_settings, load_settings, open_engine
from exchange.cli.errors import fail, first_line, handle_errors
from exchange.cli.serving import base_url, listening_socket, stop_on_sigterm
from exchange.config import Settings, debug_from_env

if TYPE_CHECKING:
    from exchange.api.context import AppState

log = logging.getLogger("congvan.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SHOWN_LOGINS = ("tpd.chutich", "tpd.phochutich", "tpd.vanthu", "tanthoi.vanthu", "tpd.admin")

# --- serve ---


def parse_port(text: str) -> int:
    """The port number in `text`; one clear error when it is not 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        fail(f"cổng {text!r} không hợp lệ: phải là số từ 1 đến 65535")
    return port


@contextmanager
def dev_services(settings: Settings) -> Iterator[str]:
    """The development TSA, OCSP and CRL, started here unless something already serves them.

    When another program holds port 8790 they run on a free port (exchange/dev_services.py).
    Yields their base URL, where this process's requests must go (Settings.dev_services_url).
    """
    from exchange.dev_services import running_dev_services, services_answer
    from signer.devpki import DEV_SERVICES_ENV

    expected = settings.dev_services.url
    services = running_dev_services(settings.dev_services, settings.effective_dev_pki_dir)
    try:
        base = services.__enter__()
    except OSError as error:
        if not services_answer(expected):  # not merely another process starting them just now
            fail(
                f"không chạy được dịch vụ TSA/OCSP/CRL phát triển tại {expected} "
                f"({DEV_SERVICES_ENV}): {error.strerror or error}"
            )
        yield expected
        return
    try:
        yield base
    finally:
        services.__exit__(None, None, None)


@contextmanager
def background_worker(state: AppState) -> Iterator[None]:
    """One in-process job worker thread, stopped after its current job on the way out."""
    from exchange.job_handlers import job_handlers
    from exchange.jobs import start_in_process_worker

    settings = state.settings
    thread, stop = start_in_process_worker(
        state.session_factory,
        job_handlers(state.runtime),
        lease_seconds=settings.job_lease_seconds,
        backoff_seconds=settings.job_backoff_seconds,
    )
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Địa chỉ lắng nghe.")
@click.option("--port", default=str(DEFAULT_PORT), show_default=True, help="Cổng TCP.")
@click.option("--no-dev-data", is_flag=True, help="Không nạp dữ liệu phát triển.")
@click.option("--no-worker", is_flag=True, help="Không chạy bộ xử lý nền trong tiến trình này.")
@handle_errors
def serve_command(host: str, port: str, no_dev_data: bool, no_worker: bool) -> None:
    """Chạy dịch vụ trao đổi văn bản (mặc định: chế độ phát triển, SQLite trong ./congvan-data)."""
    port_number = parse_port(port)
    stop_on_sigterm()
    settings = load_settings()
    sock = listening_socket(host, port_number)
    try:
        run(settings, host, port_number, sock, dev_data=not no_dev_data, worker=not no_worker)
    finally:
        sock.close()


def run(
    settings: Settings,
    host: str,
    port: int,
    sock: socket.socket,
    *,
    dev_data: bool,
    worker: bool,
) -> None:
    """Prepare the database, start the helpers and serve until SIGINT or SIGTERM."""
    from sqlalchemy.exc import SQLAlchemyError
    from werkzeug.serving import WSGIRequestHandler, make_server

    from exchange.api.context import EXTENSION
    from exchange.app import create_app
    from exchange.migrate import pending_revisions, upgrade

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING)
    logging.getLogger("congvan").setLevel(logging.INFO)
    with ExitStack() as stack:
        services = stack.enter_context(dev_services(settings)) if settings.development else None
        if services is not None:
            # Where they answer now (a free port when 8790 is held): this process's requests go
            # there.
            settings = settings.with_overrides(dev_services_url=services)
        app = create_app(settings)
        state: AppState = app.extensions[EXTENSION]
        stack.callback(state.engine.dispose)
        try:
            if settings.development:
                upgrade(state.engine)
            elif pending_revisions(state.engine):
                fail(
                    "cơ sở dữ liệu chưa được nâng cấp lên lược đồ mới nhất: chạy `congvan migrate`"
                )
        except SQLAlchemyError as error:
            fail(f"không dùng được cơ sở dữ liệu: {first_line(error)}")
        if settings.development and dev_data:
            from exchange.dev_data import load_dev_data

            with state.session_factory() as session:
                summary = load_dev_data(session, state.runtime)
            if summary.changed:
                click.echo(
                    f"Đã nạp dữ liệu phát triển: {summary.agencies} cơ quan, "
                    f"{summary.users} tài khoản, {summary.groups} nhóm"
                )
        if worker:
            stack.enter_context(background_worker(state))

        class Handler(WSGIRequestHandler):
            def version_string(self) -> str:
                return "congvan"  # not Werkzeug's name and version (README, Security headers)

        server = make_server(
            host, port, app, threaded=True, fd=sock.fileno(), request_handler=Handler
        )
        stack.callback(server.server_close)
        _announce(settings, host, port, dev_data=dev_data, worker=worker, services=services)
        with suppress(KeyboardInterrupt):
            server.serve_forever()  # werkzeug returns from here on KeyboardInterrupt too
        click.echo("congvan: đang dừng…", err=True)
    click.echo("congvan: đã dừng", err=True)


def _announce(
    settings: Settings,
    host: str,
    port: int,
    *,
    dev_data: bool,
    worker: bool,
    services: str | None = None,
) -> None:
    url = base_url(host, port)
    mode = "PHÁT TRIỂN" if settings.development else "production"
    click.echo(f"congvan: dịch vụ ({mode}) đang chạy tại {url}  (Ctrl-C để dừng)")
    click.echo(f"  kiểm tra: {url}/healthz   API: {url}/api/v1/")
    click.echo(f"  cơ sở dữ liệu: {_safe_url(settings)}")
    click.echo(f"  tệp: {settings.effective_storage_dir.resolve()}")
    if services is not None:
        click.echo(f"  dấu thời gian, OCSP, CRL phát triển: {services}/congvan-dev/")
    if not worker:
        click.echo("  bộ xử lý nền: không chạy (--no-worker); hãy chạy `congvan worker`")
    if settings.development and dev_data:
        from exchange.dev_data import DEV_PASSWORD, dev_users

        click.echo(f"  tài khoản phát triển (mật khẩu chung: {DEV_PASSWORD}):")
        users = {user.username: user for user in dev_users()}
        for username in SHOWN_LOGINS:
            user = users[username]
            click.echo(f"    {username:<16} {user.full_name} ({user.title}, {user.agency_code})")
        click.echo("    … và <xã>.chutich / .phochutich / .vanthu / .admin cho mỗi cơ quan")


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


# --- worker ---


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
@handle_errors
def worker_command(once: bool, idle_sleep: float, worker_id: str | None) -> None:
    """Chạy bộ xử lý công việc nền (kiểm tra văn bản đến, ...) cho đến khi bị dừng."""
    from exchange.db import make_session_factory
    from exchange.job_handlers import job_handlers
    from exchange.jobs import Worker
    from exchange.runtime import make_runtime

    if worker_id is not None and not 1 <= len(worker_id) <= 100:
        fail("tên bộ xử lý (--id) phải dài từ 1 đến 100 ký tự")
    if not debug_from_env():
        logging.getLogger("congvan").setLevel(logging.INFO)
    settings = load_job_settings()
    with open_engine(settings) as engine:
        worker = Worker(
            make_session_factory(engine),
            job_handlers(make_runtime(settings)),
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


COMMANDS = (serve_command, worker_command)
