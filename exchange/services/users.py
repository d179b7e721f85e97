"""Users, their roles in agencies, and passwords (Argon2id); tokens are in `access`.

A wrong password and an unknown user get the same answer after the same work, so neither reveals
which usernames exist.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange import audit
from exchange.actors import SYSTEM, Actor
from exchange.enums import Role
from exchange.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from exchange.models import Agency, ApiToken, Membership, User

# argon2-cffi's defaults are Argon2id with RFC 9106's low-memory profile (64 MiB, 3 passes).
_hasher = PasswordHasher()
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
LOGIN_FAILED = "tên đăng nhập hoặc mật khẩu không đúng"


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
    # A name no account can have is not looked up: PostgreSQL refuses some text (NUL) outright.
    valid = USERNAME.fullmatch(username) is not None
    user = session.scalar(select(User).where(User.username == username)) if valid else None
    if user is None:
        # The same Argon2 work as a real check, so timing does not tell which usernames exist.
        _password_matches(_dummy(), password)
        raise AuthenticationError(LOGIN_FAILED)
    if not _password_matches(user.password_hash, password) or not user.active:
        raise AuthenticationError(LOGIN_FAILED)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
