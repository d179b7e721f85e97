"""The Flask application: settings, database, runtime, the JSON API and `/healthz`.

`create_app` builds everything from checked settings; nothing connects to the database until the
first request needs it. Each request gets one Session, closed when the request ends.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from exchange.api.blueprint import API_PREFIX, create_api_blueprint
from exchange.api.context import (
    EXTENSION,
    AppState,
    app_state,
    close_request_session,
    current_user,
)
from exchange.api.problems import register_problem_handlers
from exchange.config import Settings, settings_from_env
from exchange.db import make_engine, make_session_factory
from exchange.errors import AuthenticationError, ServiceUnavailableError
from exchange.migrate import pending_revisions
from exchange.runtime import Runtime, make_runtime
from exchange.security import install_security_headers

log = logging.getLogger("congvan.app")

# Multipart framing and the metadata fields around an upload of the maximum size.
UPLOAD_MARGIN = 256 * 1024


def service_version() -> str:
    try:
        return version("congvan")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    """The service as a WSGI application, configured by `settings` (else the environment)."""
    if settings is None:
        settings = runtime.settings if runtime is not None else settings_from_env()
    settings.check()
    if settings.database_url == "":
        # The embedded default: SQLite under the data folder, which must exist for SQLite.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    state = AppState(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        runtime=runtime or make_runtime(settings),
    )

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + UPLOAD_MARGIN,
        CONGVAN_MAX_UPLOAD_BYTES=settings.max_upload_bytes,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = state

    register_problem_handlers(app)
    install_security_headers(app)
    app.register_blueprint(create_api_blueprint())
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/", "index", index)
    app.teardown_appcontext(close_request_session)
    return app


def healthz() -> Any:
    """200 once the database answers and carries the newest schema; 503 otherwise.

    The version only to a signed-in caller: anonymous probes learn nothing to match against
    published vulnerabilities.
    """
    engine = app_state().engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        behind = pending_revisions(engine)
    except SQLAlchemyError as error:
        log.warning("health check: database unavailable: %s", error)
        raise ServiceUnavailableError("cơ sở dữ liệu không trả lời") from None
    if behind:
        raise ServiceUnavailableError(
            "cơ sở dữ liệu chưa được nâng cấp lên lược đồ mới nhất: chạy `congvan migrate`"
        )
    body = {"status": "ok", "database": engine.dialect.name}
    if signed_in():
        body["version"] = service_version()
    return jsonify(body)


def signed_in() -> bool:
    """Whether the request carries a valid bearer token (a health check never answers 401)."""
    if not request.headers.get("Authorization"):
        return False
    try:
        current_user()
    except AuthenticationError:
        return False
    return True


def index() -> str:
    """The front page: verify a PDF, where the API is, and the development accounts."""
    settings = app_state().settings
    dev_users: list[Any] = []
    dev_password = ""
    if settings.development:
        from exchange.dev_data import DEV_PASSWORD
        from exchange.dev_data import dev_users as all_dev_users

        dev_users, dev_password = list(all_dev_users()), DEV_PASSWORD
    return render_template(
        "index.html",
        api=API_PREFIX,
        development=settings.development,
        dev_users=dev_users,
        dev_password=dev_password,
    )
