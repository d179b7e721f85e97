"""Signing in (a bearer token for a username and password), signing out, and `me`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flask import Blueprint, request

from exchange.actors import ROLE_NAMES
from exchange.api.body import json_body, optional, required
from exchange.api.context import (
    AGENCY_HEADER,
    bearer_token,
    current_actor,
    current_runtime,
    current_user,
    request_session,
)
from exchange.enums import Role
from exchange.models import User
from exchange.services.access import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    login,
    memberships_by_agency,
    revoke_token,
    user_actor,
)

auth = Blueprint("auth", __name__)


@auth.post("/auth/token")
def create_token() -> tuple[dict[str, Any], int]:
    """Exchange a username and password for a bearer token."""
    body = json_body(
        username=required(str, max_length=64),
        password=required(str, max_length=1024),
        name=optional(str, "", max_length=128, nullable=False),
        expires_in=optional(int, None, minimum=1, maximum=int(MAX_TOKEN_LIFETIME.total_seconds())),
    )
    lifetime = (
        timedelta(seconds=body["expires_in"])
        if body["expires_in"] is not None
        else DEFAULT_TOKEN_LIFETIME
    )
    issued = login(
        request_session(),
        body["username"],
        body["password"],
        name=body["name"],
        expires_in=lifetime,
        now=current_runtime().now(),
        remote_addr=request.remote_addr,
    )
    return {
        "token": issued.token,
        "token_type": "Bearer",
        "expires_at": issued.expires_at.isoformat() if issued.expires_at else None,
        "user": user_json(issued.user),
    }, 201


@auth.delete("/auth/token")
def delete_token() -> tuple[str, int]:
    """Sign out: the token of this request stops working."""
    actor = user_actor(current_user(), request.remote_addr)
    revoke_token(request_session(), bearer_token(), actor=actor)
    return "", 204


@auth.get("/me")
def me() -> dict[str, Any]:
    """The signed-in user, their agencies and roles, and the agency this request acts for."""
    user = current_user()
    memberships = memberships_by_agency(request_session(), user)
    acting: str | None = None
    if request.headers.get(AGENCY_HEADER):
        acting = current_actor().agency_code  # refuses an agency the user does not belong to
    elif len(memberships) == 1:
        only = next(iter(memberships))
        acting = only.code if only.active else None
    return {
        "user": user_json(user),
        "agencies": [
            {
                "code": agency.code,
                "name": agency.name,
                "active": agency.active,
                "roles": role_names(roles),
                "role_names": [ROLE_NAMES[Role(role)] for role in role_names(roles)],
            }
            for agency, roles in memberships.items()
        ],
        "acting_for": acting,
    }


def role_names(roles: Iterable[Role]) -> list[str]:
    return sorted(role.value for role in roles)


def user_json(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "title": user.title,
        "has_credential": bool(user.credential),
    }
