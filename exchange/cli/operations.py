"""Operating the service: `congvan migrate`, `jobs`, `audit` and `registers`.

The database is the one the settings name (`CONGVAN_DATABASE_URL`, else SQLite under
`CONGVAN_DATA_DIR`); `audit` also takes another with `--database-url`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from exchange.cli.database import (
    AUDIT,
    REGISTERS,
    load_job_settings,
    load_settings,
    open_session,
)
from exchange.cli.errors import EXIT_FAILED, EXIT_OK, handle_errors
from exchange.cli.options import database_url_option, json_option, output_option
from exchange.enums import RegisterKind
from signer.files import write_atomically

# --- migrate ---


@click.command("migrate")
@handle_errors
def migrate_command() -> None:
    """Tạo hoặc nâng cấp lược đồ cơ sở dữ liệu lên phiên bản mới nhất."""
    from exchange.db import make_engine
    from exchange.migrate import pending_revisions, upgrade

    settings = load_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    try:
        if not pending_revisions(engine):
            click.echo("congvan: cơ sở dữ liệu đã ở phiên bản mới nhất")
            return
        upgrade(engine)
        click.echo("congvan: đã nâng cấp cơ sở dữ liệu lên phiên bản mới nhất")
    finally:
        engine.dispose()


# --- jobs ---

STATE_NAMES = {
    "queued": "đang chờ",
    "running": "đang chạy",
    "done": "đã xong",
    "failed": "thất bại",
}


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
@handle_errors
def jobs_list_command(limit: int) -> None:
    """In số công việc theo trạng thái và các công việc thất bại gần nhất."""
    from exchange.jobs import failed_jobs, job_counts

    with open_session(load_job_settings()) as session:
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
@handle_errors
def jobs_retry_command(job_id: int) -> None:
    """Đưa một công việc thất bại trở lại hàng đợi."""
    from exchange.jobs import retry_job

    with open_session(load_job_settings()) as session:
        job = retry_job(session, job_id)
        click.echo(f"congvan: công việc #{job.id} ({job.kind}) đã được đưa lại vào hàng đợi")


# --- audit ---


@click.group("audit")
def audit_group() -> None:
    """Nhật ký kiểm toán: kiểm tra chuỗi băm, xem các mục."""


def _audit_url(database_url: str | None) -> str:
    """`--database-url`, else the configured database (settings unchecked: audit only reads)."""
    return database_url or load_settings(check=False).effective_database_url


@audit_group.command("verify")
@database_url_option
@json_option("In kết quả dạng JSON.")
@handle_errors
def audit_verify_command(database_url: str | None, as_json: bool) -> None:
    """Tính lại chuỗi băm của nhật ký và chỉ ra mục hỏng đầu tiên.

    Mã thoát: 0 chuỗi toàn vẹn; 1 chuỗi bị phá vỡ hoặc không đọc được cơ sở dữ liệu.
    """
    from exchange.audit import verify_chain

    with open_session(url=_audit_url(database_url), need=AUDIT) as session:
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
@database_url_option
@click.option("--document", "document_id", default=None, help="Chỉ các mục của văn bản này.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Số mục mới nhất.",
)
@json_option("Mỗi mục một dòng JSON.")
@handle_errors
def audit_list_command(
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
    with open_session(url=_audit_url(database_url), need=AUDIT) as session:
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


# --- registers ---


@click.group("registers")
def registers_group() -> None:
    """Sổ đăng ký văn bản đi và văn bản đến."""


@registers_group.command("export")
@click.option("--agency", "agency_code", required=True, help="Mã định danh của cơ quan.")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in RegisterKind]),
    required=True,
    help="outgoing: sổ văn bản đi; incoming: sổ văn bản đến.",
)
@click.option(
    "--year",
    type=click.IntRange(1900, 9999),
    help="Năm của sổ; mặc định là năm hiện tại (giờ Việt Nam).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "html"]),
    default="csv",
    show_default=True,
    help="csv: mở bằng Excel; html: trang in khổ A4 ngang.",
)
@output_option("Tệp ghi ra; mặc định in ra màn hình.", required=False)
@handle_errors
def registers_export_command(
    agency_code: str, kind: str, year: int | None, output_format: str, output: Path | None
) -> None:
    """Xuất sổ đăng ký văn bản theo mẫu của Nghị định 30/2020/NĐ-CP."""
    from exchange.services.registers import export_register
    from signer.vietnam_time import vietnam_date

    if year is None:
        year = vietnam_date(datetime.now(UTC)).year
    settings = load_settings(check=False)  # exporting only reads
    with open_session(settings, need=REGISTERS) as session:
        text = export_register(session, agency_code, RegisterKind(kind), year, output_format)
    data = text.encode("utf-8")
    if output is None:
        click.echo(data, nl=False)
        return
    write_atomically(output, data)
    click.echo(f"đã ghi {output}", err=True)


COMMANDS = (migrate_command, jobs_group, audit_group, registers_group)
