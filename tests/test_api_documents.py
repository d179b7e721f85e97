"""The documents API: bad input gets a problem response, never a 500; token signing over HTTP."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from exchange.models import Document
from signer.devpki import dev_cert_path
from tests.support.api import METADATA, problem, upload
from tests.support.remote_client import client_sign
from tests.support.world import PIN, World

pytestmark = pytest.mark.usefixtures("dev_services")


def test_bad_uploads_are_problems(client: Any, headers: Any, sample_pdf: Path) -> None:
    clerk = headers("tpd.vanthu")
    problem(upload(client, clerk, b"MZ\x90\x00 not a pdf"), 415)
    body = problem(upload(client, clerk, sample_pdf.read_bytes(), urgency="khẩn"), 422)
    assert "urgency" in body["errors"]
    body = problem(upload(client, clerk, sample_pdf.read_bytes(), classification="Mật"), 422)
    assert "classification" in body["errors"]
    body = problem(
        client.post(
            "/api/v1/documents", data=METADATA, headers=clerk, content_type="multipart/form-data"
        ),
        422,
    )
    assert "file" in body["errors"]
    problem(upload(client, {}, sample_pdf.read_bytes()), 401)


def test_upload_over_the_limit_is_413(
    app: Any, client: Any, headers: Any, sample_pdf: Path
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    problem(upload(client, headers("tpd.vanthu"), sample_pdf.read_bytes()), 413)


def test_idempotency_key_gives_one_document(
    client: Any, headers: Any, sample_pdf: Path, session_factory: Any
) -> None:
    clerk = {**headers("tpd.vanthu"), "Idempotency-Key": "dms-2026-0042"}
    first = upload(client, clerk, sample_pdf.read_bytes())
    second = upload(client, clerk, sample_pdf.read_bytes())
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 1


def test_wrong_pin_wrong_state_and_someone_elses_document(
    client: Any, headers: Any, sample_pdf: Path
) -> None:
    clerk, chief = headers("tpd.vanthu"), headers("tpd.chutich")
    document_id = upload(client, clerk, sample_pdf.read_bytes()).get_json()["id"]
    body = problem(
        client.post(f"/api/v1/documents/{document_id}/sign", json={"pin": "sai"}, headers=chief),
        422,
    )
    assert "pin" in body["errors"]
    problem(client.post(f"/api/v1/documents/{document_id}/issue", headers=clerk), 409)
    problem(
        client.post(f"/api/v1/documents/{document_id}/sign", json={"pin": PIN}, headers=clerk), 403
    )
    outsider = headers("tanthoi.vanthu")
    problem(client.get(f"/api/v1/documents/{document_id}", headers=outsider), 404)
    problem(client.get(f"/api/v1/documents/{document_id}/file", headers=outsider), 404)
    problem(
        client.post(
            f"/api/v1/deliveries/{document_id}/status", json={"status": "03"}, headers=outsider
        ),
        404,
    )
    problem(
        client.post(
            f"/api/v1/documents/{document_id}/sign",
            data="{",
            headers={**chief, "Content-Type": "application/json"},
        ),
        400,
    )
    body = problem(
        client.post(
            f"/api/v1/documents/{document_id}/send", json={"agencies": "X01"}, headers=clerk
        ),
        422,
    )
    assert "agencies" in body["errors"]
    problem(client.get("/api/v1/documents?box=trash", headers=clerk), 422)
    problem(client.get("/api/v1/registers/sideways", headers=clerk), 422)


def test_token_signing_then_issue_send_and_registers(
    client: Any, headers: Any, sample_pdf: Path, app_world: World
) -> None:
    clerk, chief = headers("tpd.vanthu"), headers("tpd.chutich")
    document_id = upload(client, clerk, sample_pdf.read_bytes()).get_json()["id"]
    certificate = dev_cert_path("official-tpd-chutich").read_text()
    prepared = client.post(
        f"/api/v1/documents/{document_id}/sign/prepare",
        json={"certificate": certificate},
        headers=chief,
    )
    assert prepared.status_code == 200, prepared.get_data(as_text=True)
    answer = prepared.get_json()
    assert "prepared_pdf" not in answer and "state" not in answer  # no server paths leak
    garbage = base64.b64encode(b"\x00" * 256).decode()
    problem(
        client.post(
            f"/api/v1/documents/{document_id}/sign/finish",
            json={"signature": garbage},
            headers=chief,
        ),
        422,
    )
    signature = client_sign("official-tpd-chutich", answer["to_be_signed"], "pss")
    finished = client.post(
        f"/api/v1/documents/{document_id}/sign/finish",
        json={"signature": base64.b64encode(signature).decode()},
        headers=chief,
    )
    assert finished.status_code == 200, finished.get_data(as_text=True)
    assert finished.get_json()["state"] == "signed"
    issued = client.post(f"/api/v1/documents/{document_id}/issue", headers=clerk)
    assert issued.get_json()["number_notation"] == "01/UBND-VP"
    sent = client.post(
        f"/api/v1/documents/{document_id}/send", json={"groups": ["cac-xa"]}, headers=clerk
    )
    assert sent.get_json()["overall"]["counts"] == {"pending": 3}
    app_world.run_jobs()
    view = client.get(f"/api/v1/documents/{document_id}", headers=clerk).get_json()
    assert view["overall"]["counts"] == {"01": 3}
    csv = client.get("/api/v1/registers/outgoing?format=csv", headers=clerk)
    assert csv.status_code == 200 and "01/UBND-VP" in csv.get_data(as_text=True)
    html = client.get("/api/v1/registers/outgoing", headers=clerk)
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐI" in html.get_data(as_text=True)


def test_anyone_can_verify_a_pdf_without_an_account(
    client: Any, headers: Any, sample_pdf: Path, app_world: World
) -> None:
    from tests.support.attacks import replace_page_content

    clerk, chief = headers("tpd.vanthu"), headers("tpd.chutich")
    document_id = upload(client, clerk, sample_pdf.read_bytes()).get_json()["id"]
    client.post(f"/api/v1/documents/{document_id}/sign", json={"pin": PIN}, headers=chief)
    client.post(f"/api/v1/documents/{document_id}/issue", headers=clerk)
    issued = client.get(f"/api/v1/documents/{document_id}/file", headers=clerk).data

    def verify(pdf: bytes) -> Any:
        return client.post(
            "/api/v1/verify",
            data={"file": (io.BytesIO(pdf), "van-ban.pdf")},
            content_type="multipart/form-data",
        )

    reply = verify(issued)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["verdict"] == "passed" and len(body["signatures"]) == 2
    assert "HỢP LỆ" in body["text"]
    forged = verify(replace_page_content(issued)).get_json()
    assert forged["verdict"] == "failed" and forged["modified_after_signing"]
    assert "thay đổi sau khi ký" in forged["summary"]
    problem(verify(b"not a pdf at all"), 415)


def _documents(session_factory: Any) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Document)) or 0)


def test_blanks_given_by_hand_on_the_upload(
    client: Any, headers: Any, sample_pdf: Path, session_factory: Any, tmp_path: Path
) -> None:
    """A scan has no blanks to find: the upload says where they are, or is told how to."""
    from tests.support.pdfs import SCAN_BOXES, make_scan

    clerk = headers("tpd.vanthu")
    scan = make_scan(sample_pdf, tmp_path).read_bytes()
    body = problem(upload(client, clerk, scan), 422)
    assert "number_box" in body["detail"] and "file" in body["errors"]
    body = problem(upload(client, clerk, scan, number_box="129,6;697,5"), 422)
    assert "x,y,rộng,cao" in body["errors"]["number_box"]
    body = problem(upload(client, clerk, sample_pdf.read_bytes(), day_box="156,697.5,40,15.6"), 422)
    assert "đè lên chữ in sẵn" in body["errors"]["day_box"]
    body = problem(upload(client, clerk, scan, issued_elsewhere="true", **SCAN_BOXES), 422)
    assert set(body["errors"]) == set(SCAN_BOXES)
    assert _documents(session_factory) == 0

    # A scan has no signer block either: where the official signs is given too (test_api_scans).
    created = upload(client, clerk, scan, **SCAN_BOXES, signature_box="1:345,171.5,150,77.6")
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["state"] == "draft"


def test_encrypted_uploads(
    client: Any, headers: Any, sample_pdf: Path, session_factory: Any, tmp_path: Path
) -> None:
    """An owner-password draft is taken and rewritten; a password is a field error, anywhere."""
    import pikepdf

    from tests.support.pdfs import encrypt

    clerk = headers("tpd.vanthu")
    protected = encrypt(sample_pdf, tmp_path / "password.pdf", user="mat-khau").read_bytes()
    for reply in (
        upload(client, clerk, protected),
        client.post(
            "/api/v1/verify",
            data={"file": (io.BytesIO(protected), "van-ban.pdf")},
            content_type="multipart/form-data",
        ),
    ):
        body = problem(reply, 422)
        assert "mật khẩu" in body["errors"]["file"]
    assert _documents(session_factory) == 0

    owner_only = encrypt(sample_pdf, tmp_path / "owner.pdf").read_bytes()
    created = upload(client, clerk, owner_only)
    assert created.status_code == 201, created.get_data(as_text=True)
    document_id = created.get_json()["id"]
    stored = client.get(f"/api/v1/documents/{document_id}/file", headers=clerk).data
    with pikepdf.open(io.BytesIO(stored)) as pdf:
        assert not pdf.is_encrypted
