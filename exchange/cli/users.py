"""`congvan users`: accounts and their roles in agencies, as the operator keeps them.

Changes are audited with the actor `operator`.
"""

from __future__ import annotations

import os

import click

from exchange.cli.database import OPERATOR, open_session
from exchange.cli.errors import fail, handle_errors
from exchange.enums import Role

ROLE_CHOICES = click.Choice([role.value for role in Role])
PASSWORD_ENV_HELP = "Đọc mật khẩu từ biến môi trường này thay vì hỏi."


def _password(env_var: str | None) -> str:
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            fail(f"biến môi trường {env_var} (mật khẩu) chưa được đặt")
        return value
    value = click.prompt("Mật khẩu", hide_input=True, confirmation_prompt="Nhập lại mật khẩu")
    return str(value)


@click.group("users")
def users_group() -> None:
    """Tài khoản người dùng và vai trò trong cơ quan."""


@users_group.command("list")
@handle_errors
def users_list() -> None:
    """In các tài khoản và vai trò."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from exchange.models import Membership, User

    with open_session() as session:
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
@click.option("--password-env", help=PASSWORD_ENV_HELP)
@handle_errors
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
    with open_session() as session:
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
@handle_errors
def users_grant(username: str, agency_code: str, role: str) -> None:
    """Cấp vai trò ROLE tại cơ quan AGENCY_CODE cho USERNAME."""
    from exchange.services.directory import find_agency
    from exchange.services.users import find_user, grant

    with open_session() as session:
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
@click.option("--password-env", help=PASSWORD_ENV_HELP)
@handle_errors
def users_set_password(username: str, password_env: str | None) -> None:
    """Đặt mật khẩu mới cho USERNAME (mọi mã truy cập API cũ bị thu hồi)."""
    from exchange.services.users import find_user, set_password

    with open_session() as session:
        user = find_user(session, username)
        set_password(session, user, _password(password_env), actor=OPERATOR)
        click.echo(f"congvan: đã đặt mật khẩu mới cho {username}")


COMMANDS = (users_group,)
