"""`congvan agencies` and `congvan groups`: the agency directory, as the operator keeps it.

The database is the one the settings name (`CONGVAN_DATABASE_URL`, else SQLite under
`CONGVAN_DATA_DIR`). Changes are audited with the actor `operator`.
"""

from __future__ import annotations

from pathlib import Path

import click

from exchange.cli.database import OPERATOR, open_session
from exchange.cli.errors import handle_errors
from exchange.cli.options import FILE

# --- agencies ---


@click.group("agencies")
def agencies_group() -> None:
    """Danh bạ cơ quan: liệt kê, thêm, ngừng hoạt động, đăng ký chứng thư."""


@agencies_group.command("list")
@handle_errors
def agencies_list() -> None:
    """In cây cơ quan (mã định danh, tên)."""
    from exchange.services.directory import list_agencies

    with open_session() as session:
        entries = list_agencies(session)
        if not entries:
            click.echo("(danh bạ trống)")
        for entry in entries:
            agency = entry.agency
            note = "" if agency.active else "  [ngừng hoạt động]"
            click.echo(f"{'  ' * entry.depth}{agency.code}  {agency.name}{note}")


@agencies_group.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", "parent_code", help="Mã định danh của cơ quan cấp trên.")
@click.option("--contact", default="", help="Địa chỉ, điện thoại, thư điện tử.")
@click.option("--credential", help="Khóa ký của cơ quan: tệp PKCS#12 hoặc URI PKCS#11.")
@click.option("--seal-image", help="Ảnh con dấu (PNG nền trong suốt).")
@handle_errors
def agencies_add(
    code: str,
    name: str,
    parent_code: str | None,
    contact: str,
    credential: str | None,
    seal_image: str | None,
) -> None:
    """Thêm cơ quan CODE tên NAME."""
    from exchange.services.directory import create_agency

    with open_session() as session:
        agency = create_agency(
            session,
            OPERATOR,
            code,
            name,
            parent_code,
            contact,
            credential=credential,
            seal_image=seal_image,
        )
        click.echo(f"congvan: đã thêm cơ quan {agency.code} ({agency.name})")


@agencies_group.command("set-active")
@click.argument("code")
@click.argument("active", type=click.BOOL, metavar="yes|no")
@handle_errors
def agencies_set_active(code: str, active: bool) -> None:
    """Cho cơ quan CODE hoạt động (yes) hoặc ngừng hoạt động (no)."""
    from exchange.services.directory import set_active

    with open_session() as session:
        set_active(session, OPERATOR, code, active)
        state = "hoạt động" if active else "ngừng hoạt động"
        click.echo(f"congvan: cơ quan {code} đã {state}")


@agencies_group.command("add-certificate")
@click.argument("code")
@click.argument("certificate", type=FILE)
@handle_errors
def agencies_add_certificate(code: str, certificate: Path) -> None:
    """Đăng ký chứng thư số (PEM hoặc DER) mà cơ quan CODE dùng để ký."""
    from exchange.services.directory import add_certificate

    data = certificate.read_bytes()
    with open_session() as session:
        row = add_certificate(session, OPERATOR, code, data)
        click.echo(f"congvan: đã đăng ký chứng thư {row.subject} (SHA-256 {row.sha256}) cho {code}")


# --- groups ---


@click.group("groups")
def groups_group() -> None:
    """Nhóm nơi nhận: danh sách cơ quan, hoặc các cơ quan trực thuộc một cơ quan."""


@groups_group.command("list")
@handle_errors
def groups_list() -> None:
    """In các nhóm và thành viên hiện tại."""
    from exchange.services.directory import list_groups

    with open_session() as session:
        entries = list_groups(session)
        if not entries:
            click.echo("(chưa có nhóm nào)")
        for entry in entries:
            kind = f" (trực thuộc {entry.children_of})" if entry.children_of else ""
            click.echo(f"{entry.group.code}  {entry.group.name}{kind}")
            click.echo(f"  {', '.join(entry.member_codes) or '(trống)'}")


@groups_group.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--member", "members", multiple=True, help="Mã cơ quan thành viên; lặp lại được.")
@click.option("--children-of", help="Nhóm gồm mọi cơ quan trực thuộc cơ quan này.")
@handle_errors
def groups_add(code: str, name: str, members: tuple[str, ...], children_of: str | None) -> None:
    """Thêm nhóm CODE tên NAME."""
    from exchange.services.directory import create_group

    with open_session() as session:
        create_group(session, OPERATOR, code, name, members=members, children_of=children_of)
        click.echo(f"congvan: đã thêm nhóm {code}")


@groups_group.command("add-member")
@click.argument("group_code")
@click.argument("agency_code")
@handle_errors
def groups_add_member(group_code: str, agency_code: str) -> None:
    """Thêm cơ quan AGENCY_CODE vào nhóm GROUP_CODE."""
    from exchange.services.directory import add_group_member

    with open_session() as session:
        add_group_member(session, OPERATOR, group_code, agency_code)
        click.echo(f"congvan: đã thêm {agency_code} vào nhóm {group_code}")


COMMANDS = (agencies_group, groups_group)
