"""Security headers on every response (issue 10, point 5): JSON, problems, pages, PDFs, health."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import problem, upload

pytestmark = pytest.mark.usefixtures("dev_services")

INLINE = re.compile(r"<(script|style)\b[^>]*>(.*?)</\1>", re.DOTALL)


def assert_common(response: Any) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Werkzeug" not in response.headers.get("Server", "")


def csp(response: Any) -> dict[str, list[str]]:
    """The HTML page's policy, as directive → sources; every inline block it holds is allowed."""
    assert_common(response)
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = {
        name: sources
        for name, *sources in (
            part.split() for part in response.headers["Content-Security-Policy"].split(";")
        )
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    page = response.get_data(as_text=True)
    for kind, content in INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy[f"{kind}-src"], kind
    assert not re.search(r"<[^>]+\sstyle=", page), "style attributes are blocked by the CSP"
    assert not re.search(r"<[^>]+\son[a-z]+=", page), "event handler attributes are blocked"
    return policy


def test_every_route_family_carries_the_headers(
    client: Any, headers: Any, sample_pdf: Path
) -> None:
    clerk = headers("tpd.vanthu")
    # API JSON, and a problem from the API, from routing and from the method check.
    me = client.get("/api/v1/me", headers=clerk)
    assert me.status_code == 200 and me.mimetype == "application/json"
    assert_common(me)
    assert "Content-Security-Policy" not in me.headers
    for reply, status in (
        (client.get("/api/v1/me"), 401),
        (client.get("/khong-co"), 404),
        (client.delete("/healthz"), 405),
    ):
        problem(reply, status)
        assert_common(reply)
    # A PDF download.
    document_id = upload(client, clerk, sample_pdf.read_bytes()).get_json()["id"]
    pdf = client.get(f"/api/v1/documents/{document_id}/file", headers=clerk)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert_common(pdf)
    # The HTML pages: the front page and the register's print view.
    policy = csp(client.get("/"))
    assert policy["script-src"] != ["'none'"]  # the verify form's script runs
    assert policy["connect-src"] == ["'self'"] and policy["form-action"] == ["'self'"]
    register = client.get("/api/v1/registers/outgoing", headers=clerk)
    assert register.status_code == 200
    csp(register)
    # CSV export.
    assert_common(client.get("/api/v1/registers/outgoing?format=csv", headers=clerk))


def test_healthz_tells_its_version_only_to_signed_in_callers(client: Any, headers: Any) -> None:
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 200
    assert_common(anonymous)
    body = anonymous.get_json()
    assert body["status"] == "ok" and body["database"] and "version" not in body
    forged = client.get("/healthz", headers={"Authorization": "Bearer gia-mao"})
    assert forged.status_code == 200 and "version" not in forged.get_json()
    signed_in = client.get("/healthz", headers=headers("tpd.vanthu")).get_json()
    assert signed_in["version"] and signed_in["status"] == "ok"


def test_an_inline_block_with_template_syntax_is_refused(tmp_path: Path) -> None:
    from exchange.security import html_policy

    (tmp_path / "page.html").write_text("<style>body { color: {{ colour }}; }</style>")
    with pytest.raises(RuntimeError, match="static"):
        html_policy(tmp_path)


def test_a_policy_without_inline_blocks_allows_no_script_or_style(tmp_path: Path) -> None:
    from exchange.security import html_policy

    (tmp_path / "plain.html").write_text("<p>no inline blocks</p>", encoding="utf-8")
    policy = html_policy(tmp_path)
    assert "script-src 'none'" in policy
    assert "style-src 'none'" in policy
