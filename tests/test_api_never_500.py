"""Every API endpoint answers malformed input with a 4xx problem, never a 500 (both databases)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exchange.models import User
from exchange.services import documents, mailboxes, sending
from exchange.services.access import issue_token
from tests.support.world import PIN, build_world

NUL = "\u0000"
IDENTIFIERS = ["00000000-0000-0000-0000-000000000000", "x" * 300, f"a{NUL}b", "%00", "1"]
BODIES: list[Any] = [
    None,
    {},
    [],
    "chuỗi",
    12,
    {"unknown": 1},
    {"status": NUL, "reason": NUL, "assigned_to": NUL},
    {"status": "03", "reason": "x" * 100_000},
    {"pin": NUL, "certificate": NUL, "signature": NUL, "format": NUL},
    {"pin": 1234, "certificate": ["a"], "signature": {"a": 1}, "format": None},
    {"agencies": [NUL, "X" * 300], "groups": [NUL]},
    {"agencies": [1, 2], "groups": "cac-xa"},
    {"accept": "yes", "reason": NUL},
    {"reason": NUL},
    {"code": NUL, "name": NUL, "parent_code": NUL, "pem": NUL},
    {"username": NUL, "password": NUL},
]


@pytest.fixture
def setting(
    session_factory: Any, runtime: Any, tmp_path: Path, sample_pdf: Path, dev_services: str
) -> tuple[list[dict[str, str]], list[str]]:
    """Two clerks' headers, and real ids: a draft, an issued and sent document, its delivery."""
    world = build_world(session_factory, tmp_path, runtime)
    clerk, commune = world.actor("tpd.vanthu"), world.actor("tanthoi.vanthu")
    letter = documents.DraftInput("Công văn", "Thử dữ liệu xấu", notation="UBND-VP")
    with session_factory() as session:
        with sample_pdf.open("rb") as upload:
            draft = documents.create_document(session, runtime, clerk, upload, letter)
        with sample_pdf.open("rb") as upload:
            sent = documents.create_document(session, runtime, clerk, upload, letter)
        documents.sign_document(
            session, runtime, world.actor("tpd.chutich"), sent.public_id, pin=PIN
        )
        documents.issue(session, runtime, clerk, sent.public_id)
        sending.send(session, runtime, clerk, sent.public_id, agencies=["DEV.TPD.X01"])
    world.run_jobs()
    with session_factory() as session:
        delivery = mailboxes.inbox(session, commune)[0]["delivery"]["id"]
        headers = []
        for username in ("tpd.vanthu", "tanthoi.vanthu"):
            user = session.scalars(select(User).where(User.username == username)).one()
            headers.append({"Authorization": f"Bearer {issue_token(session, user, 'test')}"})
        session.commit()
    return headers, [draft.public_id, sent.public_id, delivery]


def _routes(app: Any) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) != ("DELETE", "/api/v1/auth/token"):  # would sign us out
                routes.append((method, rule.rule))
    return routes


def _fill(rule: str, value: str) -> str:
    path = rule
    while "<" in path:
        start, end = path.index("<"), path.index(">")
        converter = path[start + 1 : end]
        path = path[:start] + ("7" if converter.startswith("int:") else value) + path[end + 1 :]
    return path


def test_malformed_requests_never_make_a_500(
    app: Any, client: Any, setting: tuple[list[dict[str, str]], list[str]]
) -> None:
    everyone, real_ids = setting
    failures = []
    for (method, rule), clerk_headers in itertools.product(_routes(app), everyone):
        for identifier in [*IDENTIFIERS, *real_ids]:
            path = _fill(rule, identifier)
            for body in BODIES:
                if method == "GET":
                    reply = client.get(
                        path, headers=clerk_headers, query_string={"year": NUL, "box": NUL}
                    )
                elif body is None:
                    reply = client.open(
                        path, method=method, headers=clerk_headers, data=b"\xff\xfe{"
                    )
                else:
                    reply = client.open(path, method=method, headers=clerk_headers, json=body)
                if reply.status_code >= 500:
                    failures.append((method, path, body, reply.get_data(as_text=True)[:200]))
            # Multipart forms with odd fields, for the upload endpoints.
            if method == "POST":
                reply = client.post(
                    path,
                    headers=clerk_headers,
                    content_type="multipart/form-data",
                    data={
                        "file": (io.BytesIO(b"%PDF-1.7\n" + b"\x00" * 100), f"a{NUL}.pdf"),
                        "document_type": NUL,
                        "subject": NUL,
                        "urgency": "9" * 40,
                        "due_date": "2026-02-30",
                        "issued_elsewhere": "maybe",
                    },
                )
                if reply.status_code >= 500:
                    failures.append((method, path, "multipart", reply.get_data(as_text=True)[:200]))
    assert not failures, failures[:5]
    # The requests above were answered as the signed-in clerks, not refused as strangers.
    assert client.get("/api/v1/me", headers=everyone[0]).status_code == 200
