"""What `congvan verify` and `POST /api/v1/verify` say about a file they cannot read: Vietnamese.

A judged file's `reason` stays the English sentence of the JSON contract (DESIGN.md); a file that
is not a readable PDF is refused, and the person reading the refusal reads Vietnamese, with the
library's own words at most in parentheses after ours.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from signer.errors import VerificationTimeoutError
from signer.trust import load_trust
from signer.verification import verify_pdf
from tests.support import attacks
from tests.support.cli import assert_one_clear_line, run_cli
from tests.support.messages import assert_vietnamese
from tests.support.pdfs import encrypt

KINDS = ["not-a-pdf", "empty", "truncated", "100000-nested-arrays", "password"]
# No PDF at all is "unsupported media" (415); a PDF that cannot be read is a field error (422).
API_STATUS = {"not-a-pdf": 415, "empty": 415}


def _unreadable(kind: str, sample: Path, folder: Path) -> bytes:
    if kind == "not-a-pdf":
        return attacks.PNG_BYTES
    if kind == "empty":
        return b""
    if kind == "truncated":
        data = sample.read_bytes()
        return data[: len(data) // 2]
    if kind == "100000-nested-arrays":
        return attacks.nested_arrays_pdf(100_000)
    if kind == "password":
        return encrypt(sample, folder / "password.pdf", user="mat-khau").read_bytes()
    raise AssertionError(kind)


def _own_words(line: str, path: Path) -> str:
    """The message of a stderr line "congvan: PATH: message"."""
    prefix = f"congvan: {path}: "
    assert line.startswith(prefix), line
    return line.removeprefix(prefix)


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_line_says_why_in_vietnamese_and_exits_2(
    kind: str, sample_pdf: Path, tmp_path: Path
) -> None:
    path = tmp_path / "van-ban.pdf"
    path.write_bytes(_unreadable(kind, sample_pdf, tmp_path))
    result = run_cli("verify", "--offline", path)
    assert result.returncode == 2, result.stderr
    assert_one_clear_line(result)
    message = _own_words(result.stderr.strip(), path)
    assert_vietnamese(message)
    if kind == "password":
        assert "mật khẩu" in message

    as_json = run_cli("verify", "--offline", "--json", path)
    assert as_json.returncode == 2 and "Traceback" not in as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["verdict"] == "failed" and report["readable"] is False
    assert report["reason"] == f"not a readable PDF: {message}"


def test_a_missing_file_is_told_in_vietnamese(tmp_path: Path) -> None:
    result = run_cli("verify", "--offline", tmp_path / "khong-co.pdf")
    assert result.returncode == 2
    assert_one_clear_line(result)
    assert "không có tệp này" in result.stderr


def test_the_time_limit_is_told_in_vietnamese(slow_pdf: bytes) -> None:
    with pytest.raises(VerificationTimeoutError) as stopped:
        verify_pdf(slow_pdf, trust=load_trust(development=True), offline=True, timeout=0.1)
    assert_vietnamese(str(stopped.value))
    assert "0.1 giây" in str(stopped.value)


def _verify(client: Any, data: bytes) -> Any:
    return client.post(
        "/api/v1/verify",
        data={"file": (io.BytesIO(data), "van-ban.pdf")},
        content_type="multipart/form-data",
    )


def _problem_detail(reply: Any, status: int) -> str:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.content_type == "application/problem+json"
    body = reply.get_json()
    assert body["status"] == status
    detail: str = body["detail"]
    assert_vietnamese(detail)
    if status == 422:
        assert body["errors"] == {"file": detail}
    return detail


@pytest.mark.parametrize("kind", KINDS)
def test_the_api_says_why_in_vietnamese(
    kind: str, client: Any, sample_pdf: Path, tmp_path: Path
) -> None:
    reply = _verify(client, _unreadable(kind, sample_pdf, tmp_path))
    detail = _problem_detail(reply, API_STATUS.get(kind, 422))
    if kind == "password":
        assert "mật khẩu" in detail


def test_the_api_time_limit_is_a_vietnamese_field_error(
    engine: Any, runtime: Any, slow_pdf: bytes
) -> None:
    from exchange.api.context import EXTENSION
    from exchange.app import create_app

    settings = runtime.settings.with_overrides(verify_timeout=0.1, verify_offline=True)
    app = create_app(settings, runtime=dataclasses.replace(runtime, settings=settings))
    try:
        detail = _problem_detail(_verify(app.test_client(), slow_pdf), 422)
    finally:
        app.extensions[EXTENSION].engine.dispose()
    assert "thời gian cho phép" in detail
