"""End to end over real HTTP: `congvan serve` with the development data set, on both databases.

A district clerk sends a signed document to every commune; each commune's inbox shows it arrived
and verified; one commune registers it and the district sees 03 with a receipt it can verify; a
forged copy (content changed after signing) sent from a compromised account is refused, and the
sender reads why.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exchange.dev_data import DEV_PASSWORD
from tests.support.attacks import replace_page_content

COMMUNES = [
    "DEV.TPD.X01",
    "DEV.TPD.X02",
    "DEV.TPD.X03",
    "DEV.TPD.X04",
    "DEV.TPD.X05",
    "DEV.TPD.X06",
]
COMMUNE_CLERKS = ["tanthoi", "tanphu", "phuthanh", "phudong", "phutan", "tanthanh"]


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A plain HTTP client for the API, as document-management software would be."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        files: dict[str, bytes] | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data: bytes | None = None
        sent = dict(headers or {})
        if files is not None:
            boundary = uuid.uuid4().hex
            parts = []
            for name, value in (form or {}).items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n".encode()
                )
            for name, content in files.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                    f'filename="{name}.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
                    + content
                    + b"\r\n"
                )
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            sent["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Reply(response.status, response.read(), response.headers["Content-Type"])
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read(), error.headers["Content-Type"])

    def login(self, username: str) -> Client:
        reply = self.call(
            "POST", "/api/v1/auth/token", {"username": username, "password": DEV_PASSWORD}
        )
        assert reply.status == 201, reply.body
        client = Client(self.base)
        client.token = reply.json()["token"]
        return client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def service(engine: Any, database_url: str, tmp_path: Path, dev_services: str) -> Iterator[str]:
    """`congvan serve` in its own process on the test database, with the development data set."""
    port = _free_port()
    env = {
        **os.environ,
        "CONGVAN_ENV": "development",
        "CONGVAN_DATA_DIR": str(tmp_path / "data"),
        "CONGVAN_DATABASE_URL": database_url,
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited: {(tmp_path / 'serve.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve not ready: {(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_answered(client: Client, document_id: str) -> dict[str, Any]:
    """The sender's view once every recipient's side has judged the document."""
    deadline = time.monotonic() + 60
    while True:
        view = client.call("GET", f"/api/v1/documents/{document_id}").json()
        if view["overall"]["all_answered"]:
            return dict(view)
        assert time.monotonic() < deadline, view["overall"]
        time.sleep(0.2)


def _send(clerk: Client, pdf: bytes, form: dict[str, str]) -> str:
    reply = clerk.call("POST", "/api/v1/documents", files={"file": pdf}, form=form)
    assert reply.status == 201, reply.body
    return str(reply.json()["id"])


def test_district_sends_to_all_communes(service: str, sample_pdf: Path, tmp_path: Path) -> None:
    anonymous = Client(service)
    clerk = anonymous.login("tpd.vanthu")
    official = anonymous.login("tpd.phochutich")

    document_id = _send(
        clerk,
        sample_pdf.read_bytes(),
        {"document_type": "Công văn", "notation": "UBND-VP", "subject": "Về cải cách hành chính"},
    )
    reply = official.call("POST", f"/api/v1/documents/{document_id}/sign", {"pin": DEV_PASSWORD})
    assert reply.status == 200, reply.body
    reply = clerk.call("POST", f"/api/v1/documents/{document_id}/issue")
    assert reply.status == 200, reply.body
    assert reply.json()["number_notation"] == "01/UBND-VP"
    reply = clerk.call("POST", f"/api/v1/documents/{document_id}/send", {"groups": ["cac-xa"]})
    assert reply.status == 200, reply.body

    view = _wait_answered(clerk, document_id)
    assert sorted(item["recipient"]["code"] for item in view["deliveries"]) == COMMUNES
    assert {item["status"] for item in view["deliveries"]} == {"01"}

    # Each commune's inbox shows it arrived, verified.
    deliveries = {}
    for name in COMMUNE_CLERKS:
        commune = anonymous.login(f"{name}.vanthu")
        inbox = commune.call("GET", "/api/v1/documents?box=inbox").json()["items"]
        assert [item["id"] for item in inbox] == [document_id]
        delivery = inbox[0]["delivery"]
        assert delivery["status"] == "01"
        report = commune.call("GET", f"/api/v1/deliveries/{delivery['id']}/verification").json()
        assert report["verdict"] == "passed"
        deliveries[name] = (commune, delivery["id"])

    # Tân Thới registers it; the district sees 03 and a receipt it can check on its own.
    commune, delivery_id = deliveries["tanthoi"]
    reply = commune.call("POST", f"/api/v1/deliveries/{delivery_id}/status", {"status": "03"})
    assert reply.status == 200, reply.body
    assert reply.json()["incoming_number"] == 1
    # Another commune cannot touch Tân Thới's mailbox.
    other, _ = deliveries["tanphu"]
    reply = other.call("POST", f"/api/v1/deliveries/{delivery_id}/status", {"status": "03"})
    assert reply.status == 404
    assert reply.content_type == "application/problem+json"

    view = clerk.call("GET", f"/api/v1/documents/{document_id}").json()
    tanthoi = next(
        item for item in view["deliveries"] if item["recipient"]["code"] == "DEV.TPD.X01"
    )
    assert tanthoi["status"] == "03"
    receipt_id = tanthoi["history"][-1]["receipt"]
    receipt = clerk.call("GET", f"/api/v1/receipts/{receipt_id}")
    assert receipt.status == 200
    receipt_file = tmp_path / "receipt.p7m"
    receipt_file.write_bytes(receipt.body)
    checked = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "receipt", "verify", str(receipt_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "CONGVAN_ENV": "development"},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # A compromised account sends a forged copy: the content changed after signing.
    signed = clerk.call("GET", f"/api/v1/documents/{document_id}/file")
    assert signed.status == 200 and signed.body.startswith(b"%PDF-")
    forged_id = _send(
        clerk,
        replace_page_content(signed.body),
        {
            "document_type": "Công văn",
            "notation": "01/UBND-VP",
            "subject": "Về cải cách hành chính",
            "issued_elsewhere": "true",
        },
    )
    reply = clerk.call("POST", f"/api/v1/documents/{forged_id}/send", {"groups": ["cac-xa"]})
    assert reply.status == 200, reply.body
    view = _wait_answered(clerk, forged_id)
    assert {item["status"] for item in view["deliveries"]} == {"02"}
    for item in view["deliveries"]:
        assert item["reason"].startswith("Văn bản không qua kiểm tra chữ ký số"), item["reason"]
    inbox = commune.call("GET", "/api/v1/documents?box=inbox&status=02").json()["items"]
    assert [item["id"] for item in inbox] == [forged_id]
