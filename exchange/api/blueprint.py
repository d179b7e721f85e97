"""The `/api/v1` blueprint: the child blueprints nested in it, and the checks every request passes.

Every endpoint but `POST /api/v1/auth/token` and `POST /api/v1/verify` needs
`Authorization: Bearer <token>`; nesting the children (auth, directory, documents, verify) in the
one `api` blueprint makes that check, and the refusal of input no database stores (NUL, lone
surrogates, ids beyond 64 bits), cover them all.
"""

from __future__ import annotations

from flask import Blueprint, request

from exchange.api.auth import auth
from exchange.api.body import INT64_MAX, field_label, text_problem
from exchange.api.context import current_user
from exchange.api.directory import directory
from exchange.api.documents import documents_api
from exchange.api.verify import verify_api
from exchange.errors import ValidationError

API_PREFIX = "/api/v1"
PUBLIC_ENDPOINTS = frozenset({"api.auth.create_token", "api.verify.verify_upload"})


def _refuse_unstorable_input() -> None:
    """No text the API stores or looks up may hold NUL (PostgreSQL refuses it) or a lone surrogate
    (no UTF-8 for it: multipart text that was not UTF-8 arrives as one), no path id exceed 64 bits.

    Checked before authentication, so that no later step (the audit log, password hashing, the
    database) meets them; the JSON body is checked as it is parsed (`load_json`).
    """
    texts: list[tuple[str, str]] = [("path", request.path)]
    texts += [(name, value) for name, value in request.args.items(multi=True)]
    texts += [(name, value) for name, value in request.headers.items()]
    texts += [(name, value) for name, value in request.form.items(multi=True)]
    texts += [(name, upload.filename or "") for name, upload in request.files.items(multi=True)]
    errors: dict[str, str] = {}
    for name, text in texts:
        problem = text_problem(name) or text_problem(text)
        if problem:
            errors[field_label(name)] = problem
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= INT64_MAX:
            errors[name] = "số quá lớn"
    if errors:
        raise ValidationError(
            "yêu cầu chứa dữ liệu không được chấp nhận: " + ", ".join(sorted(errors)),
            errors=errors,
        )
    if request.is_json:
        request.get_json(silent=True)  # refuses nesting too deep and unstorable members


def _authenticate() -> None:
    if request.endpoint not in PUBLIC_ENDPOINTS:
        current_user()


def create_api_blueprint() -> Blueprint:
    """The `/api/v1` blueprint with every child blueprint nested in it."""
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)
    api.before_request(_refuse_unstorable_input)
    api.before_request(_authenticate)
    for child in (auth, directory, documents_api, verify_api):
        api.register_blueprint(child)
    return api
