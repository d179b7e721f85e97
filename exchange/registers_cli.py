"""`congvan registers export`: an agency's outgoing or incoming register as CSV or a print page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from exchange.cli_errors import fail, friendly_errors
from exchange.enums import RegisterKind
from exchange.errors import ExchangeError
from signer.files import write_atomically


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
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp ghi ra; mặc định in ra màn hình.",
)
@friendly_errors
def export_command(
    agency_code: str, kind: str, year: int | None, output_format: str, output: Path | None
) -> None:
    """Xuất sổ đăng ký văn bản theo mẫu của Nghị định 30/2020/NĐ-CP."""
    from sqlalchemy.exc import SQLAlchemyError

    from signer.issuing import vietnam_date

    if year is None:
        year = vietnam_date(datetime.now(UTC)).year
    try:
        text = _export(agency_code, RegisterKind(kind), year, output_format)
    except ExchangeError as error:
        fail(error.detail)
    except SQLAlchemyError as error:
        fail(
            "không đọc được cơ sở dữ liệu (đã chạy `congvan migrate` chưa?): "
            f"{type(error).__name__}"
        )
    data = text.encode("utf-8")
    if output is None:
        click.echo(data, nl=False)
        return
    write_atomically(output, data)
    click.echo(f"đã ghi {output}", err=True)


def _export(agency_code: str, kind: RegisterKind, year: int, output_format: str) -> str:
    from sqlalchemy.engine import make_url

    from exchange.config import settings_from_env
    from exchange.db import make_engine, make_session_factory
    from exchange.services.registers import export_register

    url = settings_from_env().effective_database_url
    parsed = make_url(url)
    # SQLite would quietly create an empty file: say instead that there is no database yet.
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database or "")
        if not database.exists():
            fail(f"chưa có cơ sở dữ liệu {database}: hãy chạy `congvan migrate` trước")
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return export_register(session, agency_code, kind, year, output_format)
    finally:
        engine.dispose()
