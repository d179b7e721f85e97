"""The documents API spoken to through Flask's test client."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

METADATA = {"document_type": "Công văn", "notation": "UBND-VP", "subject": "Về việc thử nghiệm"}


def upload(client: FlaskClient, headers: dict[str, str], pdf: bytes, **fields: str) -> TestResponse:
    """POST /api/v1/documents: `pdf` with the letter's metadata, `fields` added or replacing."""
    data = {**METADATA, **fields, "file": (io.BytesIO(pdf), "van-ban.pdf")}
    return client.post(
        "/api/v1/documents", data=data, headers=headers, content_type="multipart/form-data"
    )


def problem(reply: TestResponse, status: int) -> dict[str, Any]:
    """The reply is a problem (RFC 9457) of `status` with a detail; its body."""
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.content_type == "application/problem+json"
    body: dict[str, Any] = reply.get_json()
    assert body["status"] == status and body["detail"]
    return body
