"""API bearer tokens and who is acting: signing in and out, and the Actor a request acts as.

Only a token's SHA-256 is stored: a leaked database gives no usable token. A failed sign-in is
audited in its own transaction, with the username tried and never the password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from exchange import audit
from exchange.actors import SYSTEM, Actor
from exchange.db import utcnow
from exchange.enums import Role
from exchange.errors import (
    AuthenticationError,
    ConflictError,
    ExchangeError,
    PermissionDeniedError,
    ValidationError,
)
from exchange.models import Agency, ApiToken, Membership, User
from exchange.services.users import authenticate

DEFAULT_TOKEN_LIFETIME = timedelta(hours=12)
MAX_TOKEN_LIFETIME = timedelta(days=365)
TOKEN_INVALID = "mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi"
# The audit actor of a failed sign-in: nobody is signed in, whatever username was typed.
ANONYMOUS = "anonymous"
TRIED_USERNAME_CHARS = 64  # a valid username's length; more is noise kept out of the log


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token: the only time its value is ever seen."""

    token: str
    expires_at: datetime | None
    user: User


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token(
    session: Session, user: User, name: str, expires_in: timedelta | None, now: datetime
) -> IssuedToken:
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME:
        raise ValidationError(
            "thời hạn mã truy cập phải dương và không quá 365 ngày",
            errors={"expires_in": "từ 1 giây đến 365 ngày"},
        )
    if len(name) > 128:
        raise ValidationError("tên mã truy cập quá dài", errors={"name": "tối đa 128 ký tự"})
    token = secrets.token_urlsafe(32)
    expires_at = now + expires_in if expires_in is not None else None
    session.add(
        ApiToken(
            user_id=user.id,
            token_sha256=token_digest(token),
            name=name,
            created_at=now,
            expires_at=expires_at,
            revoked=False,
        )
    )
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, user=user)


# --- use cases (one commit each) ---


def login(
    session: Session,
    username: str,
    password: str,
    *,
    name: str = "",
    expires_in: timedelta | None = DEFAULT_TOKEN_LIFETIME,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> IssuedToken:
    """Check the password and issue a bearer token (the API's sign-in); failures are audited."""
    try:
        user = authenticate(session, username, password)
    except AuthenticationError:
        _record_failed_login(session, username, remote_addr)
        raise
    issued = _new_token(session, user, name, expires_in, now or utcnow())
    audit.record(
        session,
        "auth.login",
        actor=user_actor(user, remote_addr),
        details={"token_name": name, "expires_at": issued.expires_at},
    )
    session.commit()
    return issued


def _record_failed_login(session: Session, username: str, remote_addr: str | None) -> None:
    """Commit an `auth.login_failed` entry in a transaction of its own (the password never)."""
    # Whatever the caller's transaction held is dropped first: a refused sign-in writes only this.
    # Unknown user, wrong password and locked account all take this same path and work.
    session.rollback()
    actor = Actor(
        user_id=None,
        username=ANONYMOUS,
        agency_id=None,
        agency_code=None,
        remote_addr=remote_addr,
    )
    audit.record(
        session,
        "auth.login_failed",
        actor=actor,
        details={"username": username[:TRIED_USERNAME_CHARS]},
    )
    session.commit()


def issue_token(
    session: Session,
    user: User,
    name: str = "",
    expires_in: timedelta | None = DEFAULT_TOKEN_LIFETIME,
    *,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> str:
    """A new bearer token for `user` (for an operator or a test); returns its only copy."""
    if actor.user_id != user.id:
        actor.require(Role.ADMIN)
    if not user.active:
        raise ConflictError(f"tài khoản {user.username} đang bị khóa")
    issued = _new_token(session, user, name, expires_in, now or utcnow())
    audit.record(
        session,
        "token.issue",
        actor=actor,
        details={
            "username": user.username,
            "token_name": name,
            "expires_at": issued.expires_at,
        },
    )
    session.commit()
    return issued.token


def revoke_token(session: Session, token: str, *, actor: Actor = SYSTEM) -> None:
    """Stop a bearer token working (signing out)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(token)))
    if row is None:
        raise AuthenticationError(TOKEN_INVALID)
    if actor.user_id != row.user_id:
        actor.require(Role.ADMIN)
    row.revoked = True
    audit.record(session, "token.revoke", actor=actor, details={"token_name": row.name})
    session.commit()


# --- who is calling ---


def user_for_token(session: Session, token: str, *, now: datetime | None = None) -> User:
    """The active user a bearer token belongs to; AuthenticationError otherwise."""
    if not token or len(token) > 256:
        raise AuthenticationError(TOKEN_INVALID)
    row = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_sha256 == token_digest(token))
        .options(selectinload(ApiToken.user))
    )
    moment = now or utcnow()
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= moment):
        raise AuthenticationError(TOKEN_INVALID)
    if not row.user.active:
        raise AuthenticationError("tài khoản đang bị khóa")
    return row.user


def memberships_by_agency(session: Session, user: User) -> dict[Agency, frozenset[Role]]:
    """The user's roles grouped by agency, agencies in code order."""
    rows = session.execute(
        select(Membership.role, Agency)
        .join(Agency, Membership.agency_id == Agency.id)
        .where(Membership.user_id == user.id)
        .order_by(Agency.code)
    ).all()
    grouped: dict[Agency, set[Role]] = {}
    for role, agency in rows:
        grouped.setdefault(agency, set()).add(role)
    return {agency: frozenset(roles) for agency, roles in grouped.items()}


def choose_agency(
    memberships: dict[Agency, frozenset[Role]], agency_code: str | None
) -> tuple[Agency, frozenset[Role]]:
    """The agency a request acts for: the one named, or the user's only one."""
    if agency_code:
        chosen = [(a, roles) for a, roles in memberships.items() if a.code == agency_code]
        if not chosen:
            raise PermissionDeniedError(f"tài khoản không thuộc cơ quan {agency_code}")
    else:
        chosen = list(memberships.items())
        if not chosen:
            raise PermissionDeniedError("tài khoản chưa thuộc cơ quan nào")
        if len(chosen) > 1:
            codes = ", ".join(agency.code for agency, _ in chosen)
            raise ExchangeError(
                f"tài khoản thuộc nhiều cơ quan ({codes}): "
                "chọn cơ quan bằng tiêu đề X-Congvan-Agency",
                errors={"X-Congvan-Agency": "bắt buộc khi tài khoản thuộc nhiều cơ quan"},
            )
    agency, roles = chosen[0]
    if not agency.active:
        raise PermissionDeniedError(f"cơ quan {agency.code} đã ngừng hoạt động trên hệ thống")
    return agency, roles


def actor_for_user(
    session: Session, user: User, agency_code: str | None, remote_addr: str | None = None
) -> Actor:
    """The user acting for one of their agencies."""
    agency, roles = choose_agency(memberships_by_agency(session, user), agency_code)
    return Actor(
        user_id=user.id,
        username=user.username,
        agency_id=agency.id,
        agency_code=agency.code,
        roles=roles,
        remote_addr=remote_addr,
    )


def actor_for_token(
    session: Session,
    token: str,
    agency_code: str | None,
    remote_addr: str | None,
    *,
    now: datetime | None = None,
) -> Actor:
    """Who a bearer token acts as, in the agency named (or their only agency)."""
    user = user_for_token(session, token, now=now)
    return actor_for_user(session, user, agency_code, remote_addr)


def user_actor(user: User, remote_addr: str | None = None) -> Actor:
    """The user as an audit actor, before an agency is chosen (signing in and out)."""
    return Actor(
        user_id=user.id,
        username=user.username,
        agency_id=None,
        agency_code=None,
        remote_addr=remote_addr,
    )
