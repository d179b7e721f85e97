"""Operator commands: `congvan migrate`, `agencies`, `groups`, `users` and `dev-data`.

The database is the one the settings name (`CONGVAN_DATABASE_URL`, else SQLite under
`CONGVAN_DATA_DIR`). Changes are audited with the actor `operator`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from exchange.actors import Actor
from exchange.cli_errors import fail, friendly_errors
from exchange.config import Settings, settings_from_env
from exchange.enums import Role
from exchange.errors import ExchangeError

OPERATOR = Actor(user_id=None, username="operator", agency_id=None, agency_code=None)
ROLE_CHOICES = click.Choice([role.value for role in Role])

F = TypeVar("F", bound=Callable[..., Any])


def operator_errors(function: F) -> F:
    """Exchange and database errors as one line and exit 1; anything else as friendly_errors."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return function(*args, **kwargs)
        except ExchangeError as error:
            fail(error.detail)
        except SQLAlchemyError as error:
            fail(f"lỗi cơ sở dữ liệu: {_first_line(error)}")

    return friendly_errors(wrapper)  # type: ignore[return-value]


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _settings() -> Settings:
    return settings_from_env().check()


@contextmanager
def _session(settings: Settings | None = None) -> Iterator[Session]:
    """A session on the configured database, refused unless it is migrated to the newest schema."""
    from exchange.db import make_engine, make_session_factory
    from exchange.migrate import pending_revisions

    settings = settings or _settings()
    sqlite_file = settings.data_dir / "congvan.sqlite3"
    if not settings.database_url and not sqlite_file.exists():
        fail(f"chưa có cơ sở dữ liệu {sqlite_file}: chạy `congvan migrate` (hoặc `congvan serve`)")
    engine = make_engine(settings.effective_database_url)
    try:
        if pending_revisions(engine):
            fail("cơ sở dữ liệu chưa được nâng cấp lên lược đồ mới nhất: chạy `congvan migrate`")
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _password(env_var: str | None) -> str:
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            fail(f"biến môi trường {env_var} (mật khẩu) chưa được đặt")
        return value
    value = click.prompt("Mật khẩu", hide_input=True, confirmation_prompt="Nhập lại mật khẩu")
    return str(value)


@click.command("migrate")
@operator_errors
def migrate_command() -> None:
    """Tạo hoặc nâng cấp lược đồ cơ sở dữ liệu lên phiên bản mới nhất."""
    from exchange.db import make_engine
    from exchange.migrate import pending_revisions, upgrade

    settings = _settings()
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


# --- agencies ---


@click.group("agencies")
def agencies_group() -> None:
    """Danh bạ cơ quan: liệt kê, thêm, ngừng hoạt động, đăng ký chứng thư."""


@agencies_group.command("list")
@operator_errors
def agencies_list() -> None:
    """In cây cơ quan (mã định danh, tên)."""
    from exchange.services.directory import list_agencies

    with _session() as session:
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
@operator_errors
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

    with _session() as session:
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
@operator_errors
def agencies_set_active(code: str, active: bool) -> None:
    """Cho cơ quan CODE hoạt động (yes) hoặc ngừng hoạt động (no)."""
    from exchange.services.directory import set_active

    with _session() as session:
        set_active(session, OPERATOR, code, active)
        state = "hoạt động" if active else "ngừng hoạt động"
        click.echo(f"congvan: cơ quan {code} đã {state}")


@agencies_group.command("add-certificate")
@click.argument("code")
@click.argument("certificate", type=click.Path(dir_okay=False, path_type=Path))
@operator_errors
def agencies_add_certificate(code: str, certificate: Path) -> None:
    """Đăng ký chứng thư số (PEM hoặc DER) mà cơ quan CODE dùng để ký."""
    from exchange.services.directory import add_certificate

    data = certificate.read_bytes()
    with _session() as session:
        row = add_certificate(session, OPERATOR, code, data)
        click.echo(f"congvan: đã đăng ký chứng thư {row.subject} (SHA-256 {row.sha256}) cho {code}")


# --- groups ---


@click.group("groups")
def groups_group() -> None:
    """Nhóm nơi nhận: danh sách cơ quan, hoặc các cơ quan trực thuộc một cơ quan."""


@groups_group.command("list")
@operator_errors
def groups_list() -> None:
    """In các nhóm và thành viên hiện tại."""
    from exchange.services.directory import list_groups

    with _session() as session:
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
@operator_errors
def groups_add(code: str, name: str, members: tuple[str, ...], children_of: str | None) -> None:
    """Thêm nhóm CODE tên NAME."""
    from exchange.services.directory import create_group

    with _session() as session:
        create_group(session, OPERATOR, code, name, members=members, children_of=children_of)
        click.echo(f"congvan: đã thêm nhóm {code}")


@groups_group.command("add-member")
@click.argument("group_code")
@click.argument("agency_code")
@operator_errors
def groups_add_member(group_code: str, agency_code: str) -> None:
    """Thêm cơ quan AGENCY_CODE vào nhóm GROUP_CODE."""
    from exchange.services.directory import add_group_member

    with _session() as session:
        add_group_member(session, OPERATOR, group_code, agency_code)
        click.echo(f"congvan: đã thêm {agency_code} vào nhóm {group_code}")


# --- users ---


@click.group("users")
def users_group() -> None:
    """Tài khoản người dùng và vai trò trong cơ quan."""


@users_group.command("list")
@operator_errors
def users_list() -> None:
    """In các tài khoản và vai trò."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from exchange.models import Membership, User

    with _session() as session:
        users = session.scalars(
            select(User)
            .order_by(User.username)
            .options(selectinload(User.memberships).selectinload(Membership.agency))
        ).all()
        if not users:
            click.echo("(chưa có tài khoản nào)")
        for user in users:
            memberships = sorted((m.agency.code, m.role.value) for m in user.memberships)
            roles = ", ".join(f"{role}@{code}" for code, role in memberships) or "-"
            note = "" if user.active else "  [bị khóa]"
            title = f", {user.title}" if user.title else ""
            click.echo(f"{user.username}  {user.full_name}{title}  {roles}{note}")


@users_group.command("add")
@click.argument("username")
@click.option("--full-name", required=True, help="Họ và tên.")
@click.option("--title", default="", help="Chức vụ (Chủ tịch, Văn thư, ...).")
@click.option("--agency", "agency_code", help="Mã cơ quan để cấp vai trò ngay.")
@click.option("--role", "roles", multiple=True, type=ROLE_CHOICES, help="Vai trò; lặp lại được.")
@click.option("--credential", help="Khóa ký cá nhân: tệp PKCS#12 hoặc URI PKCS#11.")
@click.option("--signature-image", help="Ảnh chữ ký tay (PNG nền trong suốt).")
@click.option("--password-env", help="Đọc mật khẩu từ biến môi trường này thay vì hỏi.")
@operator_errors
def users_add(
    username: str,
    full_name: str,
    title: str,
    agency_code: str | None,
    roles: tuple[str, ...],
    credential: str | None,
    signature_image: str | None,
    password_env: str | None,
) -> None:
    """Thêm tài khoản USERNAME (và vai trò trong một cơ quan)."""
    from exchange.services.directory import find_agency
    from exchange.services.users import create_user, validate_password, validate_username

    if roles and not agency_code:
        fail("--role cần --agency (vai trò thuộc về một cơ quan)")
    validate_username(username)
    with _session() as session:
        agency = find_agency(session, agency_code) if agency_code else None
        password = validate_password(_password(password_env))
        create_user(
            session,
            username,
            password,
            full_name=full_name,
            title=title,
            credential=credential,
            signature_image=signature_image,
            roles=[(agency, Role(role)) for role in roles if agency is not None],
            actor=OPERATOR,
        )
        where = f" ({', '.join(roles)} tại {agency_code})" if roles else ""
        click.echo(f"congvan: đã thêm tài khoản {username}{where}")


@users_group.command("grant")
@click.argument("username")
@click.argument("agency_code")
@click.argument("role", type=ROLE_CHOICES)
@operator_errors
def users_grant(username: str, agency_code: str, role: str) -> None:
    """Cấp vai trò ROLE tại cơ quan AGENCY_CODE cho USERNAME."""
    from exchange.services.directory import find_agency
    from exchange.services.users import find_user, grant

    with _session() as session:
        added = grant(
            session,
            find_user(session, username),
            find_agency(session, agency_code),
            Role(role),
            actor=OPERATOR,
        )
        if added:
            click.echo(f"congvan: {username} có vai trò {role} tại {agency_code}")
        else:
            click.echo(f"congvan: {username} đã có vai trò {role} tại {agency_code}")


@users_group.command("set-password")
@click.argument("username")
@click.option("--password-env", help="Đọc mật khẩu từ biến môi trường này thay vì hỏi.")
@operator_errors
def users_set_password(username: str, password_env: str | None) -> None:
    """Đặt mật khẩu mới cho USERNAME (mọi mã truy cập API cũ bị thu hồi)."""
    from exchange.services.users import find_user, set_password

    with _session() as session:
        user = find_user(session, username)
        set_password(session, user, _password(password_env), actor=OPERATOR)
        click.echo(f"congvan: đã đặt mật khẩu mới cho {username}")


# --- development data ---


@click.group("dev-data")
def dev_data_group() -> None:
    """Dữ liệu phát triển (CHỈ DÙNG KHI PHÁT TRIỂN)."""


@dev_data_group.command("load")
@operator_errors
def dev_data_load() -> None:
    """Nạp huyện Tân Phú Đông, các xã, các phòng và tài khoản thử (mật khẩu congvan-dev)."""
    from exchange.dev_dataset import DEV_PASSWORD, load_dev_data
    from exchange.runtime import make_runtime

    settings = _settings()
    if not settings.development:
        fail("dữ liệu phát triển chỉ được nạp ở chế độ development")
    with _session(settings) as session:
        summary = load_dev_data(session, make_runtime(settings))
    if summary.changed:
        click.echo(
            f"congvan: đã nạp {summary.agencies} cơ quan, {summary.certificates} chứng thư, "
            f"{summary.groups} nhóm, {summary.users} tài khoản (mật khẩu {DEV_PASSWORD})"
        )
    else:
        click.echo("congvan: dữ liệu phát triển đã có sẵn, không thêm gì")


COMMANDS = (
    migrate_command,
    agencies_group,
    groups_group,
    users_group,
    dev_data_group,
)
