"""`congvan serve` as a user runs it: a real process, real HTTP, stopped with SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import clean_env, free_port, http

pytestmark = pytest.mark.slow


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = (tmp_path / "serve.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", *args],
        cwd=tmp_path,
        env=env if env is not None else clean_env(CONGVAN_DATA_DIR=str(tmp_path / "data")),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def output(tmp_path: Path) -> str:
    return (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def running(tmp_path: Path, dev_services: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = serve(tmp_path, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}: {output(tmp_path)}")
            try:
                status, _ = http("GET", f"{base}/healthz")
                if status == 200:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer within 90 s: {output(tmp_path)}")
            time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_on_a_fresh_machine(
    running: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, base = running
    status, health = http("GET", f"{base}/healthz")
    assert (status, health["status"], health["database"]) == (200, "ok", "sqlite")
    assert (tmp_path / "data" / "congvan.sqlite3").is_file()
    printed = output(tmp_path)
    assert base in printed and "tpd.vanthu" in printed and "congvan-dev" in printed

    status, issued = http(
        "POST", f"{base}/api/v1/auth/token", {"username": "tpd.vanthu", "password": "congvan-dev"}
    )
    assert status == 201, issued
    status, me = http("GET", f"{base}/api/v1/me", token=issued["token"])
    assert status == 200
    assert me["user"]["full_name"] == "Lê Thị Mỹ Duyên"
    assert me["acting_for"] == "DEV.TPD.000"
    status, groups = http("GET", f"{base}/api/v1/groups", token=issued["token"])
    assert {g["code"] for g in groups["groups"]} >= {"cac-xa", "cac-phong"}

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, output(tmp_path)
    assert "Traceback" not in output(tmp_path)


def one_line_failure(process: subprocess.Popen[bytes], tmp_path: Path) -> str:
    assert process.wait(timeout=60) == 1, output(tmp_path)
    lines = [line for line in output(tmp_path).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("congvan: "), output(tmp_path)
    return lines[0]


@pytest.mark.parametrize("port", ["0", "70000", "tám nghìn"])
def test_bad_port_is_one_line(tmp_path: Path, port: str) -> None:
    assert "cổng" in one_line_failure(serve(tmp_path, "--port", port), tmp_path)


def test_port_taken_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = one_line_failure(serve(tmp_path, "--port", port), tmp_path)
    assert port in line


def test_production_refuses_development_secrets(tmp_path: Path) -> None:
    env = clean_env(CONGVAN_ENV="production", CONGVAN_DATA_DIR=str(tmp_path / "data"))
    line = one_line_failure(serve(tmp_path, "--port", str(free_port()), env=env), tmp_path)
    assert "CONGVAN_SECRET_KEY" in line
