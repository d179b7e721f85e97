"""Hostile input is a 4xx problem naming the field, never a 500 (issue 10, point 2; both databases).

Deeply nested JSON, lone surrogates, integers beyond what the databases store, and form text
that is not UTF-8 are refused where the request is read, before authentication.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "mat-khau-hop-le"
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


def _json_routes(app: Any) -> list[tuple[str, str]]:
    """Every API route that takes a body, with its placeholders filled."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<int:[^>]*>", "1", rule.rule)
            path = re.sub(r"<[^>]*>", "x", path)
            for method in sorted(rule.methods & {"POST", "PATCH", "PUT", "DELETE"}):
                routes.append((method, path))
    return routes


def _post_json(client: Any, path: str, text: str, **kwargs: Any) -> Any:
    return client.post(path, data=text.encode(), content_type="application/json", **kwargs)


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_refused_before_authentication(
    app: Any, client: Any, body: str
) -> None:
    routes = _json_routes(app)
    assert ("POST", "/api/v1/auth/token") in routes
    failures = []
    for method, path in routes:
        reply = client.open(path, method=method, data=body, content_type="application/json")
        if reply.status_code not in (400, 422) or reply.mimetype != "application/problem+json":
            failures.append((method, path, reply.status_code))
    reply = _post_json(client, "/api/v1/auth/token", body)
    assert reply.status_code in (400, 422), reply.get_data(as_text=True)[:300]
    assert reply.mimetype == "application/problem+json"
    assert not failures, failures


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"username": "\\ud800", "password": "x"}', "username"),
        ('{"username": "a", "password": "\\udfff\\ud800"}', "password"),
        ('{"username": "a", "password": "x", "name": "t\\udc00"}', "name"),
        ('{"username": "a", "password": "x", "\\ud800": 1}', "\\ud800"),
    ],
)
def test_lone_surrogates_at_sign_in_are_a_422_naming_the_field(
    client: Any, make_user: Callable[..., Any], text: str, field: str
) -> None:
    make_user("a", password=PASSWORD)
    reply = _post_json(client, "/api/v1/auth/token", text)
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    assert field in reply.get_json()["errors"]
    # The service is sound afterwards: the right password still signs in.
    good = client.post("/api/v1/auth/token", json={"username": "a", "password": PASSWORD})
    assert good.status_code == 201, good.get_data(as_text=True)[:300]


@pytest.mark.parametrize(
    ("path", "text", "field"),
    [
        ("/api/v1/documents/x/sign", '{"pin": "\\ud800"}', "pin"),
        ("/api/v1/documents/x/recall", '{"reason": "\\ud800"}', "reason"),
        ("/api/v1/documents/x/send", '{"agencies": ["A", "\\ud800"]}', "agencies[1]"),
        ("/api/v1/deliveries/x/status", '{"status": "03", "reason": "\\ud800"}', "reason"),
        ("/api/v1/agencies", '{"code": "X", "name": "\\udbff"}', "name"),
        ("/api/v1/agencies/x", '{"name": "\\udbff"}', "name"),
    ],
)
def test_lone_surrogates_anywhere_are_a_422_naming_the_field(
    client: Any, headers: Callable[[str], dict[str, str]], path: str, text: str, field: str
) -> None:
    method = "PATCH" if path == "/api/v1/agencies/x" else "POST"
    reply = client.open(
        path,
        method=method,
        data=text.encode(),
        content_type="application/json",
        headers=headers("tpd.vanthu"),
    )
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    assert field in reply.get_json()["errors"]


@pytest.mark.parametrize("expires_in", ["1e30", str(10**30), "-" + str(10**30), "1e400"])
def test_huge_token_lifetimes_are_a_4xx_naming_expires_in(
    client: Any, make_user: Callable[..., Any], expires_in: str
) -> None:
    make_user("a", password=PASSWORD)
    text = f'{{"username": "a", "password": "{PASSWORD}", "expires_in": {expires_in}}}'
    reply = _post_json(client, "/api/v1/auth/token", text)
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    assert "expires_in" in reply.get_json()["errors"]


@pytest.mark.parametrize("receipt", ["99999999999999999999999", str(2**63), "9" * 4000])
def test_huge_path_ids_are_a_4xx_naming_the_id(
    client: Any, headers: Callable[[str], dict[str, str]], receipt: str
) -> None:
    reply = client.get(f"/api/v1/receipts/{receipt}", headers=headers("tpd.vanthu"))
    assert 400 <= reply.status_code < 500, reply.get_data(as_text=True)[:300]
    assert "receipt_id" in reply.get_json()["errors"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/documents?offset={}", "offset"),
        ("/api/v1/documents?box=inbox&offset={}", "offset"),
        ("/api/v1/documents?limit={}", "limit"),
        ("/api/v1/registers/outgoing?year={}", "year"),
    ],
)
@pytest.mark.parametrize("number", [str(10**26), "1e26", str(2**63)])
def test_huge_query_numbers_are_a_4xx_naming_the_field(
    client: Any, headers: Callable[[str], dict[str, str]], path: str, field: str, number: str
) -> None:
    reply = client.get(path.format(number), headers=headers("tpd.vanthu"))
    assert 400 <= reply.status_code < 500, reply.get_data(as_text=True)[:300]
    assert field in reply.get_json()["errors"]


def _multipart(fields: dict[str, bytes], pdf: bytes) -> tuple[bytes, str]:
    boundary = "congvan-boundary-7d3a"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
        )
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="file"; filename="a.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        + pdf
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"document_type": "Công văn".encode(), "subject": b"Th\xff\xfe"}, "subject"),
        ({"document_type": b"C\xc3", "subject": "Thử".encode()}, "document_type"),
        ({"document_type": "Công văn".encode(), "subject": b"\xed\xa0\x80"}, "subject"),
    ],
)
def test_form_text_that_is_not_utf8_is_refused(
    client: Any,
    headers: Callable[[str], dict[str, str]],
    sample_pdf: Path,
    fields: dict[str, bytes],
    field: str,
) -> None:
    body, content_type = _multipart(fields, sample_pdf.read_bytes())
    reply = client.post(
        "/api/v1/documents", data=body, content_type=content_type, headers=headers("tpd.vanthu")
    )
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    assert field in reply.get_json()["errors"]
    listed = client.get("/api/v1/documents", headers=headers("tpd.vanthu")).get_json()
    assert listed["items"] == []


def test_utf8_form_text_is_still_stored(
    client: Any, headers: Callable[[str], dict[str, str]], sample_pdf: Path
) -> None:
    fields = {"document_type": "Công văn".encode(), "subject": "Thử nghiệm ✓".encode()}
    body, content_type = _multipart(fields, sample_pdf.read_bytes())
    reply = client.post(
        "/api/v1/documents", data=body, content_type=content_type, headers=headers("tpd.vanthu")
    )
    assert reply.status_code == 201, reply.get_data(as_text=True)[:300]
    assert reply.get_json()["subject"] == "Thử nghiệm ✓"
