"""Users, their roles in agencies, passwords (Argon2id) and API bearer tokens.

Only a token's SHA-256 is stored: a leaked database gives no usable token. A wrong password and
an unknown user get the same answer after the same work, so neither reveals which usernames exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from exchange import audit
from exchange.actors import SYSTEM, Actor
from exchange.db import utcnow
from exchange.errors import (
    AuthenticationError,
    ConflictError,
    ExchangeError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from exchange.models import Agency, ApiToken, Membership, Role, User

# argon2-cffi's defaults are Argon2id with RFC 9106's low-memory profile (64 MiB, 3 passes).
_hasher = PasswordHasher()
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
DEFAULT_TOKEN_LIFETIME = timedelta(hours=12)
MAX_TOKEN_LIFETIME = timedelta(days=365)
LOGIN_FAILED = "tên đăng nhập hoặc mật khẩu không đúng"
TOKEN_INVALID = "mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi"


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token: the only time its value is ever seen."""

    token: str
    expires_at: datetime | None
    user: User


# --- pure checks ---


def validate_username(username: str) -> str:
    """The username if it is 1-64 characters of `a-z 0-9 . _ -`, starting with a letter or digit."""
    if not USERNAME.fullmatch(username):
        raise ValidationError(
            f"tên đăng nhập {username!r} không hợp lệ: 1-64 ký tự a-z, 0-9, '.', '_', '-'",
            errors={"username": "chỉ gồm chữ thường không dấu, chữ số, '.', '_', '-'"},
        )
    return username


def validate_password(password: str) -> str:
    """The password if its length is acceptable."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"mật khẩu phải dài ít nhất {MIN_PASSWORD} ký tự",
            errors={"password": f"ít nhất {MIN_PASSWORD} ký tự"},
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            "mật khẩu quá dài", errors={"password": f"tối đa {MAX_PASSWORD} ký tự"}
        )
    return password


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _dummy() -> str:
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        return _dummy_hash


def _password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- building blocks (no commit, no audit) ---


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"không có tài khoản {username!r}")
    return user


def new_user(
    session: Session,
    username: str,
    *,
    full_name: str,
    password_hash: str,
    title: str = "",
    credential: str | None = None,
    signature_image: str | None = None,
) -> User:
    """Add a user row (flushed, not committed); refuse a username already taken."""
    validate_username(username)
    if not full_name.strip():
        raise ValidationError("cần họ và tên", errors={"full_name": "bắt buộc"})
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"tên đăng nhập {username!r} đã có người dùng")
    user = User(
        username=username,
        full_name=full_name.strip(),
        title=title.strip(),
        password_hash=password_hash,
        active=True,
        credential=credential,
        signature_image=signature_image,
    )
    session.add(user)
    session.flush()
    return user


def add_membership(session: Session, user: User, agency: Agency, role: Role) -> bool:
    """Give `user` the `role` in `agency` unless they hold it already; True when added."""
    exists = session.scalar(
        select(Membership.id).where(
            Membership.user_id == user.id,
            Membership.agency_id == agency.id,
            Membership.role == role,
        )
    )
    if exists is not None:
        return False
    session.add(Membership(user_id=user.id, agency_id=agency.id, role=role))
    session.flush()
    return True


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


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    full_name: str,
    title: str = "",
    credential: str | None = None,
    signature_image: str | None = None,
    roles: Sequence[tuple[Agency, Role]] = (),
    actor: Actor = SYSTEM,
) -> User:
    """Create an active user with an Argon2id password hash, and their roles in agencies."""
    actor.require(Role.ADMIN)
    for agency, _ in roles:
        if not actor.is_system and actor.agency_id != agency.id:
            raise PermissionDeniedError(
                "chỉ quản trị của chính cơ quan mới cấp vai trò trong cơ quan"
            )
    user = new_user(
        session,
        username,
        full_name=full_name,
        password_hash=hash_password(validate_password(password)),
        title=title,
        credential=credential,
        signature_image=signature_image,
    )
    for agency, role in roles:
        add_membership(session, user, agency, Role(role))
    audit.record(
        session,
        "user.create",
        actor=actor,
        details={
            "username": username,
            "full_name": user.full_name,
            "title": user.title,
            "roles": [f"{Role(role).value}@{agency.code}" for agency, role in roles],
        },
    )
    session.commit()
    return user


def set_password(session: Session, user: User, password: str, *, actor: Actor = SYSTEM) -> None:
    """Replace the user's password and revoke their API tokens."""
    if actor.user_id != user.id:
        actor.require(Role.ADMIN)
    user.password_hash = hash_password(validate_password(password))
    for token in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    ):
        token.revoked = True
    audit.record(session, "user.set_password", actor=actor, details={"username": user.username})
    session.commit()


def set_user_active(session: Session, user: User, active: bool, *, actor: Actor = SYSTEM) -> None:
    """Allow or stop a user signing in; their tokens stop working while inactive."""
    actor.require(Role.ADMIN)
    user.active = active
    audit.record(
        session,
        "user.set_active",
        actor=actor,
        details={"username": user.username, "active": active},
    )
    session.commit()


def grant(
    session: Session, user: User, agency: Agency, role: Role, *, actor: Actor = SYSTEM
) -> bool:
    """Give `user` the `role` in `agency`; False when they held it already."""
    actor.require(Role.ADMIN)
    if not actor.is_system and actor.agency_id != agency.id:
        raise PermissionDeniedError("chỉ quản trị của chính cơ quan mới cấp vai trò trong cơ quan")
    added = add_membership(session, user, agency, Role(role))
    if added:
        audit.record(
            session,
            "user.grant",
            actor=actor,
            agency_code=agency.code,
            details={"username": user.username, "agency": agency.code, "role": str(role)},
        )
    session.commit()
    return added


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with this username and password; one message for every failure."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        # The same Argon2 work as a real check, so timing does not tell which usernames exist.
        _password_matches(_dummy(), password)
        raise AuthenticationError(LOGIN_FAILED)
    if not _password_matches(user.password_hash, password) or not user.active:
        raise AuthenticationError(LOGIN_FAILED)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


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
    """Check the password and issue a bearer token (the API's sign-in)."""
    user = authenticate(session, username, password)
    issued = _new_token(session, user, name, expires_in, now or utcnow())
    audit.record(
        session,
        "auth.login",
        actor=user_actor(user, remote_addr),
        details={"token_name": name, "expires_at": issued.expires_at},
    )
    session.commit()
    return issued


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
