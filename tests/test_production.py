"""The documented production deployment: `congvan migrate`, gunicorn, `congvan worker`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signer.devpki import dev_cert_path
from tests.support.cli import run_cli
from tests.support.processes import clean_env, free_port, http

pytestmark = pytest.mark.slow

GUNICORN = Path(sys.executable).with_name("gunicorn")


def production_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        CONGVAN_ENV="production",
        CONGVAN_DATABASE_URL=database_url,
        CONGVAN_STORAGE_DIR=str(tmp_path / "files"),
        CONGVAN_SECRET_KEY="a-production-secret-of-forty-characters!!",
        # Any root but the development one, which production refuses.
        CONGVAN_TRUST_ROOTS=str(dev_cert_path("rogue-root")),
        **extra,
    )


@pytest.fixture
def gunicorn(engine: Any, database_url: str, tmp_path: Path) -> Iterator[str]:
    env = production_env(database_url, tmp_path)
    migrated = run_cli("migrate", environ=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(GUNICORN), "--workers", "2", "--bind", f"127.0.0.1:{port}", "exchange.wsgi:app"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_gunicorn_serves_the_production_configuration(gunicorn: str) -> None:
    status, body = http("GET", f"{gunicorn}/healthz")
    assert status == 200 and body["status"] == "ok" and "version" not in body
    status, body = http(
        "POST",
        f"{gunicorn}/api/v1/auth/token",
        {"username": "tpd.vanthu", "password": "congvan-dev"},
    )
    assert status == 401  # no development data set in production
    with urllib.request.urlopen(f"{gunicorn}/", timeout=10) as response:
        page = response.read().decode()
        server = response.headers.get("Server", "")
        assert "Werkzeug" not in server and "Python" not in server, server
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Kiểm tra chữ ký số" in page and "congvan-dev" not in page


def test_the_worker_runs_against_the_production_database(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    env = production_env(database_url, tmp_path)
    assert run_cli("migrate", environ=env).returncode == 0
    run = run_cli("worker", "--once", environ=env)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"CONGVAN_SECRET_KEY": "congvan-dev-secret-not-for-production"}, "khóa phát triển"),
        ({"CONGVAN_TRUST_ROOTS": ""}, "CONGVAN_TRUST_ROOTS"),
    ],
)
def test_production_refuses_to_start_on_development_settings(
    database_url: str, tmp_path: Path, change: dict[str, str], words: str
) -> None:
    env = {**production_env(database_url, tmp_path), **change}
    for command in (("worker", "--once"), ("migrate",)):
        run = run_cli(*command, environ=env)
        assert run.returncode != 0 and words in run.stderr, (command, run.stderr)
        assert "Traceback" not in run.stderr
    gunicorn = subprocess.run(
        [str(GUNICORN), "--bind", f"127.0.0.1:{free_port()}", "exchange.wsgi:app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gunicorn.returncode != 0
    assert words in gunicorn.stdout + gunicorn.stderr
