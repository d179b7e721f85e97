"""The Flask application: factory, /healthz, problem responses, signing in, `me`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from exchange.api.context import EXTENSION
from exchange.app import create_app
from exchange.config import Settings
from exchange.enums import Role

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"] and body["type"]
    return body


@contextmanager
def disposing(app: Flask) -> Iterator[Flask]:
    """An application made in a test, its database connections closed afterwards."""
    try:
        yield app
    finally:
        app.extensions[EXTENSION].engine.dispose()


# --- the factory and /healthz ---


def test_healthz_answers_once_migrated(client: Any, database_url: str) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == ("postgresql" if database_url.startswith("postgresql") else "sqlite")
    assert "version" not in body  # only to a signed-in caller (tests/test_security_headers.py)


def test_healthz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'trong.sqlite3'}")
    with disposing(create_app(settings)) as app:
        body = assert_problem(app.test_client().get("/healthz"), 503)
    assert "congvan migrate" in body["detail"]
    assert body["instance"] == "/healthz"


def test_create_app_reads_the_environment_and_checks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.errors import ConfigurationError

    monkeypatch.setenv("CONGVAN_DATA_DIR", str(tmp_path / "du-lieu"))
    monkeypatch.delenv("CONGVAN_DATABASE_URL", raising=False)
    monkeypatch.setenv("CONGVAN_MAX_UPLOAD_BYTES", "1234")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] > 1234
    assert (tmp_path / "du-lieu").is_dir()  # SQLite needs the folder; nothing connected yet
    assert not (tmp_path / "du-lieu" / "congvan.sqlite3").exists()
    monkeypatch.setenv("CONGVAN_ENV", "production")
    with pytest.raises(ConfigurationError):
        create_app()


def test_importing_the_wsgi_module_connects_to_nothing(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CONGVAN_ENV": "development",
        "CONGVAN_DATA_DIR": str(tmp_path),
        # Nothing listens on port 9: a connection attempt at import time would fail the import.
        "CONGVAN_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import exchange.wsgi as w; print(w.app.name)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exchange.app"


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"
    )
    with disposing(create_app(settings)) as app:
        body = assert_problem(app.test_client().get("/healthz"), 503)
    assert "nobody" not in body["detail"]


# --- problems ---


def test_unknown_url_is_a_404_problem(client: Any) -> None:
    body = assert_problem(client.get("/khong-co-trang-nay"), 404)
    assert body["title"] == "Không tìm thấy"
    assert body["type"] == "about:blank"
    assert body["instance"] == "/khong-co-trang-nay"


def test_wrong_method_is_a_405_problem(client: Any) -> None:
    response = client.post("/healthz")
    body = assert_problem(response, 405)
    assert "POST" in body["detail"]
    assert "GET" in response.headers["Allow"]


def test_too_large_is_a_413_problem_naming_the_limit(engine: Any, runtime: Any) -> None:
    settings = runtime.settings.with_overrides(max_upload_bytes=1024)
    with disposing(create_app(settings)) as app:
        response = app.test_client().post(
            "/api/v1/auth/token", data=b"x" * (2 * 1024 * 1024), content_type="application/json"
        )
    body = assert_problem(response, 413)
    assert "1 KB" in body["detail"]


def test_malformed_json_is_a_400_problem(client: Any) -> None:
    response = client.post(
        "/api/v1/auth/token", data=b'{"username": "a",', content_type="application/json"
    )
    body = assert_problem(response, 400)
    assert body["type"].endswith("/malformed-json")
    assert "dòng 1" in body["detail"]


def test_form_data_where_json_is_expected_is_a_415_problem(client: Any) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "a"})
    assert_problem(response, 415)


def test_json_fields_are_checked(client: Any) -> None:
    response = client.post(
        "/api/v1/auth/token", json={"username": 5, "mat_khau": "x", "expires_in": True}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == {
        "username": "phải là chuỗi",
        "password": "bắt buộc",
        "mat_khau": "trường không được hỗ trợ",
        "expires_in": "phải là số nguyên",
    }


def test_an_unexpected_error_is_a_bare_500(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    def explode() -> str:
        raise RuntimeError("bí mật nội bộ: mật khẩu cơ sở dữ liệu là hunter2")

    app.add_url_rule("/no-tung", "no_tung", explode)
    response = app.test_client().get("/no-tung")
    body = assert_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "RuntimeError" not in text
    assert body["title"] == "Lỗi máy chủ"
    assert any("hunter2" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# --- signing in ---


def test_login_me_and_logout(
    client: Any, make_agency: Any, make_user: Any, database_url: str
) -> None:
    make_agency("DEV.A", "Ủy ban thử")
    make_user("an", agency="DEV.A", roles=(Role.CLERK, Role.OFFICIAL), password="dung-mat-khau")
    response = client.post(
        "/api/v1/auth/token", json={"username": "an", "password": "dung-mat-khau", "name": "web"}
    )
    assert response.status_code == 201, response.get_json()
    issued = response.get_json()
    assert issued["token_type"] == "Bearer" and issued["expires_at"]
    headers = {"Authorization": f"Bearer {issued['token']}"}
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["user"]["username"] == "an"
    assert me["acting_for"] == "DEV.A"
    assert me["agencies"] == [
        {
            "code": "DEV.A",
            "name": "Ủy ban thử",
            "active": True,
            "roles": ["clerk", "official"],
            "role_names": ["văn thư", "lãnh đạo"],
        }
    ]
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=headers), 401)


def test_wrong_password_and_unknown_user_are_401_alike(client: Any, make_user: Any) -> None:
    make_user("binh", password="dung-mat-khau")
    wrong = client.post("/api/v1/auth/token", json={"username": "binh", "password": "sai-roi!"})
    unknown = client.post("/api/v1/auth/token", json={"username": "ai-do", "password": "sai-roi!"})
    wrong_body, unknown_body = assert_problem(wrong, 401), assert_problem(unknown, 401)
    assert wrong_body["detail"] == unknown_body["detail"]
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer khong-phai-ma", "Basic YW46bWs=", "bearer  "]
)
def test_missing_or_bad_tokens_are_401(client: Any, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    assert_problem(client.get("/api/v1/me", headers=headers), 401)


def test_token_for_another_agency_is_refused(
    client: Any, make_agency: Any, make_user: Any, auth_headers: Any
) -> None:
    make_agency("DEV.A")
    make_agency("DEV.B")
    user = make_user("chi", agency="DEV.A")
    body = assert_problem(client.get("/api/v1/me", headers=auth_headers(user, "DEV.B")), 403)
    assert "DEV.B" in body["detail"]
    assert client.get("/api/v1/me", headers=auth_headers(user, "DEV.A")).status_code == 200


def test_user_of_several_agencies_chooses_with_the_header(
    client: Any, session: Any, make_agency: Any, make_user: Any, auth_headers: Any
) -> None:
    from exchange.services.users import grant

    make_agency("DEV.A")
    b = make_agency("DEV.B")
    user = make_user("dung", agency="DEV.A", roles=(Role.CLERK,))
    grant(session, user, b, Role.ADMIN)
    plain = client.get("/api/v1/me", headers=auth_headers(user)).get_json()
    assert plain["acting_for"] is None and len(plain["agencies"]) == 2
    chosen = client.get("/api/v1/me", headers=auth_headers(user, "DEV.B")).get_json()
    assert chosen["acting_for"] == "DEV.B"
    listed = client.post(
        "/api/v1/agencies", json={"code": "DEV.B.1", "name": "Con"}, headers=auth_headers(user)
    )
    assert_problem(listed, 400)
    created = client.post(
        "/api/v1/agencies",
        json={"code": "DEV.B.1", "name": "Con", "parent_code": "DEV.B"},
        headers=auth_headers(user, "DEV.B"),
    )
    assert created.status_code == 201


def test_expired_token_is_401(
    request: pytest.FixtureRequest, engine: Any, runtime: Any, make_agency: Any, make_user: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from exchange.runtime import Runtime

    moments = [datetime(2025, 9, 2, 8, 0, tzinfo=UTC)]
    clocked = Runtime(runtime.settings, runtime.store, runtime.trust, clock=lambda: moments[-1])
    app = create_app(runtime.settings, runtime=clocked)
    client = app.test_client()
    request.addfinalizer(app.extensions["congvan"].engine.dispose)
    make_agency("DEV.A")
    make_user("em", agency="DEV.A", password="dung-mat-khau")
    issued = client.post(
        "/api/v1/auth/token",
        json={"username": "em", "password": "dung-mat-khau", "expires_in": 60},
    ).get_json()
    assert issued["expires_at"] == "2025-09-02T08:01:00+00:00"
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    moments.append(moments[0] + timedelta(seconds=60))
    assert_problem(client.get("/api/v1/me", headers=headers), 401)
