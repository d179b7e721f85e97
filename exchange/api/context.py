"""Who and what a request works with: the application's state, its Session, runtime and caller.

The application keeps its state in `app.extensions["congvan"]`; each request opens one Session on
first use (closed when the request ends) and checks its bearer token once. A user in several
agencies names the one they act for in `X-Congvan-Agency`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange.actors import Actor
from exchange.config import Settings
from exchange.errors import AuthenticationError
from exchange.models import User
from exchange.runtime import Runtime
from exchange.services.access import actor_for_user, user_for_token

EXTENSION = "congvan"
AGENCY_HEADER = "X-Congvan-Agency"


@dataclass(frozen=True)
class AppState:
    """What the application keeps in `app.extensions["congvan"]`."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    runtime: Runtime


def app_state() -> AppState:
    state: AppState = current_app.extensions[EXTENSION]
    return state


def request_session() -> Session:
    """The Session of the current request (opened on first use, closed when the request ends)."""
    session: Session | None = g.get("congvan_session")
    if session is None:
        session = app_state().session_factory()
        g.congvan_session = session
    return session


def current_runtime() -> Runtime:
    return app_state().runtime


def close_request_session(error: BaseException | None) -> None:
    session: Session | None = g.pop("congvan_session", None)
    if session is not None:
        session.close()  # anything not committed is rolled back


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("cần đăng nhập: gửi tiêu đề Authorization: Bearer <mã truy cập>")
    return token.strip()


def current_user() -> User:
    """The user the request's bearer token belongs to (checked once per request)."""
    user: User | None = g.get("congvan_user")
    if user is None:
        user = user_for_token(request_session(), bearer_token(), now=current_runtime().now())
        g.congvan_user = user
    return user


def current_actor() -> Actor:
    """The calling user acting for their agency (the one in X-Congvan-Agency, or their only one)."""
    actor: Actor | None = g.get("congvan_actor")
    if actor is None:
        actor = actor_for_user(
            request_session(),
            current_user(),
            request.headers.get(AGENCY_HEADER) or None,
            request.remote_addr,
        )
        g.congvan_actor = actor
    return actor
