"""The JSON API under `/api/v1`: bearer tokens, who is calling, and reading request bodies.

Every endpoint but `POST /api/v1/auth/token` needs `Authorization: Bearer <token>`; a user in
several agencies names the one they act for in `X-Congvan-Agency`. Child blueprints (auth,
directory, documents) are nested in the one `api` blueprint so that check covers them all.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, request

from exchange.actors import Actor
from exchange.app import current_runtime, request_session
from exchange.errors import AuthenticationError, ValidationError
from exchange.models import User
from exchange.services.access import actor_for_user, user_for_token

API_PREFIX = "/api/v1"
AGENCY_HEADER = "X-Congvan-Agency"
PUBLIC_ENDPOINTS = frozenset({"api.auth.create_token", "api.verify.verify_upload"})

_TYPE_NAMES: dict[type, str] = {
    str: "chuỗi",
    int: "số nguyên",
    float: "số",
    bool: "true hoặc false",
    list: "danh sách",
    dict: "đối tượng JSON",
}


@dataclass(frozen=True)
class Field:
    """One member of a JSON request body: its type, whether it is required, its default."""

    kind: type
    required: bool = True
    default: Any = None
    max_length: int | None = None
    items: type | None = None  # the element type of a list
    nullable: bool = False


def required(kind: type, *, max_length: int | None = None, items: type | None = None) -> Field:
    return Field(kind, required=True, max_length=max_length, items=items)


def optional(
    kind: type,
    default: Any = None,
    *,
    max_length: int | None = None,
    items: type | None = None,
    nullable: bool = True,
) -> Field:
    return Field(
        kind, required=False, default=default, max_length=max_length, items=items, nullable=nullable
    )


def check_value(value: Any, spec: Field) -> str | None:
    """Why `value` does not fit `spec`, or None when it does."""
    if value is None:
        return None if spec.nullable else "không được để null"
    # bool is an int in Python, never in a JSON schema.
    if spec.kind is not bool and isinstance(value, bool):
        return f"phải là {_TYPE_NAMES.get(spec.kind, spec.kind.__name__)}"
    accepted: tuple[type, ...] = (int, float) if spec.kind is float else (spec.kind,)
    if not isinstance(value, accepted):
        return f"phải là {_TYPE_NAMES.get(spec.kind, spec.kind.__name__)}"
    limit = spec.max_length
    if limit is not None and isinstance(value, str | list | dict) and len(value) > limit:
        unit = "ký tự" if isinstance(value, str) else "phần tử"
        return f"tối đa {spec.max_length} {unit}"
    if spec.items is not None and isinstance(value, list):
        element = Field(spec.items)
        for index, item in enumerate(value):
            problem = check_value(item, element)
            if problem:
                return f"phần tử thứ {index + 1} {problem}"
    return None


def parse_body(body: Any, fields: Mapping[str, Field]) -> dict[str, Any]:
    """The body's members checked against `fields`, defaults filled; 422 listing every problem."""
    if not isinstance(body, dict):
        raise ValidationError("nội dung yêu cầu phải là một đối tượng JSON")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in body:
        if name not in fields:
            errors[name] = "trường không được hỗ trợ"
    for name, spec in fields.items():
        if name not in body:
            if spec.required:
                errors[name] = "bắt buộc"
            else:
                values[name] = copy.copy(spec.default)  # a shared [] must not leak between calls
            continue
        problem = check_value(body[name], spec)
        if problem:
            errors[name] = problem
        else:
            values[name] = body[name]
    if errors:
        raise ValidationError(
            "dữ liệu gửi lên không hợp lệ: " + ", ".join(sorted(errors)), errors=errors
        )
    return values


def json_body(**fields: Field) -> dict[str, Any]:
    """The request's JSON object checked against `fields` (see `required`, `optional`)."""
    return parse_body(request.get_json(), fields)


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


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _refuse_nul_characters() -> None:
    """No text the API stores or looks up may hold a NUL character (PostgreSQL refuses it)."""
    texts: list[Any] = [request.path, *request.args.values(), *request.headers.values()]
    texts += [*request.form.values(), *(upload.filename or "" for upload in request.files.values())]
    if request.is_json:
        texts.append(request.get_json(silent=True))
    if any(_has_nul(text) for text in texts):
        raise ValidationError("yêu cầu chứa ký tự NUL (\\u0000), không được chấp nhận")


def _authenticate() -> None:
    if request.endpoint not in PUBLIC_ENDPOINTS:
        current_user()


def create_api_blueprint() -> Blueprint:
    """The `/api/v1` blueprint with every child blueprint nested in it."""
    from exchange.api.auth import auth
    from exchange.api.directory import directory
    from exchange.api.documents import documents_api
    from exchange.api.verify import verify_api

    api = Blueprint("api", __name__, url_prefix=API_PREFIX)
    api.before_request(_refuse_nul_characters)
    api.before_request(_authenticate)
    for child in (auth, directory, documents_api, verify_api):
        api.register_blueprint(child)
    return api
