"""The `/api/v1` blueprint: the child blueprints nested in it, and the checks every request passes.

Every endpoint but `POST /api/v1/auth/token` and `POST /api/v1/verify` needs
`Authorization: Bearer <token>`; nesting the children (auth, directory, documents, verify) in the
one `api` blueprint makes that check, and the refusal of NUL characters, cover them all.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from exchange.api.auth import auth
from exchange.api.context import current_user
from exchange.api.directory import directory
from exchange.api.documents import documents_api
from exchange.api.verify import verify_api
from exchange.errors import ValidationError

API_PREFIX = "/api/v1"
PUBLIC_ENDPOINTS = frozenset({"api.auth.create_token", "api.verify.verify_upload"})


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
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)
    api.before_request(_refuse_nul_characters)
    api.before_request(_authenticate)
    for child in (auth, directory, documents_api, verify_api):
        api.register_blueprint(child)
    return api
