"""`congvan audit`: recompute the audit chain and name the first broken entry; list entries."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exchange.cli_errors import EXIT_FAILED, EXIT_OK, fail, friendly_errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("congvan")

DATABASE_OPTION = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Địa chỉ cơ sở dữ liệu (mặc định: CONGVAN_DATABASE_URL, hoặc SQLite ở thư mục dữ liệu).",
)


@click.group("audit")
def audit_group() -> None:
    """Nhật ký kiểm toán: kiểm tra chuỗi băm, xem các mục."""


@contextmanager
def open_audit_session(database_url: str | None) -> Iterator[Session]:
    """A session on the chosen database, or one clear line and exit 1 when it cannot be read."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from exchange.config import settings_from_env
    from exchange.db import make_engine, make_session_factory
    from exchange.errors import ExchangeError

    try:
        url = database_url or settings_from_env().effective_database_url
    except ExchangeError as error:
        fail(error.detail)
    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"địa chỉ cơ sở dữ liệu không hợp lệ: {url!r}")
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        # SQLite would silently create an empty file; an audit of nothing must not pass.
        if not parsed.database or parsed.database == ":memory:":
            fail(f"cần đường dẫn tệp SQLite trong {shown}")
        if not Path(parsed.database).is_file():
            fail(f"không tìm thấy tệp cơ sở dữ liệu {parsed.database}")
    postgresql = parsed.get_backend_name() == "postgresql"
    try:
        engine = make_engine(
            url, **({"connect_args": {"connect_timeout": 10}} if postgresql else {})
        )
    except Exception:  # an unknown dialect or driver, a malformed option
        log.debug("cannot create engine", exc_info=True)
        fail(f"địa chỉ cơ sở dữ liệu không dùng được: {shown}")
    try:
        try:
            with engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
        except DBAPIError:
            log.debug("cannot connect", exc_info=True)
            fail(
                f"không kết nối được cơ sở dữ liệu {shown}: kiểm tra địa chỉ, tài khoản và máy chủ"
            )
        if not {"audit_events", "audit_head"} <= tables:
            fail(f"cơ sở dữ liệu {shown} chưa có lược đồ congvan (chạy congvan migrate trước)")
        with make_session_factory(engine)() as session:
            try:
                yield session
            except DBAPIError:
                log.debug("database error", exc_info=True)
                fail(f"lỗi khi đọc cơ sở dữ liệu {shown}; chạy lại với CONGVAN_DEBUG=1 để xem")
    finally:
        engine.dispose()


@audit_group.command("verify")
@DATABASE_OPTION
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@friendly_errors
def verify_command(database_url: str | None, as_json: bool) -> None:
    """Tính lại chuỗi băm của nhật ký và chỉ ra mục hỏng đầu tiên.

    Mã thoát: 0 chuỗi toàn vẹn; 1 chuỗi bị phá vỡ hoặc không đọc được cơ sở dữ liệu.
    """
    from exchange.audit import verify_chain

    with open_audit_session(database_url) as session:
        check = verify_chain(session)
    if as_json:
        click.echo(json.dumps(check.to_dict(), ensure_ascii=False))
    if check.ok:
        if not as_json:
            click.echo(f"Chuỗi nhật ký toàn vẹn: {check.entries} mục")
            click.echo(f"Mã băm cuối (mục #{check.head_id}): {check.head_hash}")
        sys.exit(EXIT_OK)
    click.echo(
        f"congvan: chuỗi nhật ký bị phá vỡ tại mục #{check.first_broken_id}: {check.problem}",
        err=True,
    )
    sys.exit(EXIT_FAILED)


@audit_group.command("list")
@DATABASE_OPTION
@click.option("--document", "document_id", default=None, help="Chỉ các mục của văn bản này.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Số mục mới nhất.",
)
@click.option("--json", "as_json", is_flag=True, help="Mỗi mục một dòng JSON.")
@friendly_errors
def list_command(
    database_url: str | None, document_id: str | None, limit: int, as_json: bool
) -> None:
    """Liệt kê các mục nhật ký mới nhất (cũ trước, mới sau)."""
    from sqlalchemy import select

    from exchange.audit import format_time
    from exchange.models import AuditEvent
    from signer.vietnam_time import VIETNAM_TIME

    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if document_id is not None:
        statement = statement.where(AuditEvent.document_id == document_id)
    with open_audit_session(database_url) as session:
        events = list(reversed(session.scalars(statement).all()))
    for event in events:
        if as_json:
            row = {
                "id": event.id,
                "at": format_time(event.at),
                "actor": event.actor,
                "agency_code": event.agency_code,
                "action": event.action,
                "document_id": event.document_id,
                "remote_addr": event.remote_addr,
                "details": event.details,
                "prev_hash": event.prev_hash,
                "entry_hash": event.entry_hash,
            }
            click.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
            continue
        when = event.at.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M:%S")
        who = f"{event.actor}@{event.agency_code}" if event.agency_code else event.actor
        document = f" văn bản {event.document_id}" if event.document_id else ""
        details = json.dumps(event.details, ensure_ascii=False, sort_keys=True)
        click.echo(f"#{event.id} {when} {who} {event.action}{document} {details}")
    if not events and not as_json:
        click.echo("Không có mục nhật ký nào.")
