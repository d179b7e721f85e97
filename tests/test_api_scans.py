"""A scan through the exchange: blanks and the signature's place given on upload, then signed
(with the service's key or a USB token), issued with the seal, sent and verified by a commune."""

from __future__ import annotations

import base64
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from exchange.models import Document
from signer.appearance import parse_placement
from signer.devpki import dev_cert_path
from signer.fields import DAY_FIELD, MONTH_FIELD, NUMBER_FIELD
from signer.layout import Rect
from tests.support.api import problem, upload
from tests.support.pdfs import SCAN_BOXES, SIGNATURE_PLACE, make_scan
from tests.support.remote_client import client_sign
from tests.support.world import PIN, World

pytestmark = pytest.mark.usefixtures("dev_services")

# Between "PHÓ CHỦ TỊCH" and the name on the scanned letter, as a person measures it.
SIGNATURE_BOX = "1:345,171.5,150,77.6"


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, sample_pdf: Path) -> bytes:
    return make_scan(sample_pdf, tmp_path_factory.mktemp("scan")).read_bytes()


def _fields(pdf: bytes) -> dict[str, Any]:
    """Each form field of page 1 by name: its value and its widget's rectangle."""
    reader = PdfFileReader(io.BytesIO(pdf))
    found = {}
    for ref in reader.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        x0, y0, x1, y1 = (float(v) for v in field["/Rect"])
        found[str(field["/T"])] = (field.get("/V"), Rect(x0, y0, x1 - x0, y1 - y0))
    return found


def test_the_signature_box_is_checked_on_upload(
    client: Any, headers: Any, scan: bytes, sample_pdf: Path
) -> None:
    clerk = headers("tpd.vanthu")
    body = problem(upload(client, clerk, scan, **SCAN_BOXES), 422)
    assert "signature_box" in body["detail"] and "khối chữ ký" in body["detail"]
    assert set(body["errors"]) == {"signature_box"}
    wrong = {
        "345,171.5,150,77.6": "TRANG:x,y,rộng,cao",
        "0:345,171.5,150,77.6": "bắt đầu từ 1",
        "1:345,171.5,20,10": "rộng 72 đến 360 point",
        "2:345,171.5,150,77.6": "chỉ có 1 trang",
        "1:545,171.5,150,77.6": "ngoài trang 1",
        "1:345,-40,150,77.6": "ngoài trang 1",
    }
    for box, words in wrong.items():
        body = problem(upload(client, clerk, scan, **SCAN_BOXES, signature_box=box), 422)
        assert words in body["errors"]["signature_box"], (box, body)
    # A draft whose text shows the signer block signs there: a box given as well is refused.
    body = problem(upload(client, clerk, sample_pdf.read_bytes(), signature_box=SIGNATURE_BOX), 422)
    assert "đã có khối chữ ký ở trang 1" in body["errors"]["signature_box"]
    body = problem(
        upload(client, clerk, scan, issued_elsewhere="true", signature_box=SIGNATURE_BOX), 422
    )
    assert set(body["errors"]) == {"signature_box"}


def test_a_scan_is_signed_issued_sent_and_verified_by_a_commune(
    client: Any, headers: Any, scan: bytes, app_world: World, tmp_path: Path
) -> None:
    clerk, chief, commune = headers("tpd.vanthu"), headers("tpd.chutich"), headers("tanthoi.vanthu")
    created = upload(client, clerk, scan, **SCAN_BOXES, signature_box=SIGNATURE_BOX)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["signature_box"] == SIGNATURE_BOX
    assert parse_placement(SIGNATURE_BOX) == SIGNATURE_PLACE
    document_id = created.get_json()["id"]

    signed = client.post(f"/api/v1/documents/{document_id}/sign", json={"pin": PIN}, headers=chief)
    assert signed.status_code == 200, signed.get_data(as_text=True)
    issued = client.post(f"/api/v1/documents/{document_id}/issue", headers=clerk)
    assert issued.status_code == 200, issued.get_data(as_text=True)
    assert issued.get_json()["number_notation"] == "01/UBND-VP"
    sent = client.post(
        f"/api/v1/documents/{document_id}/send", json={"agencies": ["DEV.TPD.X01"]}, headers=clerk
    )
    assert sent.status_code == 200, sent.get_data(as_text=True)
    app_world.run_jobs()
    view = client.get(f"/api/v1/documents/{document_id}", headers=clerk).get_json()
    assert view["overall"]["counts"] == {"01": 1}

    inbox = client.get("/api/v1/documents?box=inbox", headers=commune).get_json()["items"]
    delivery_id = inbox[0]["delivery"]["id"]
    report = client.get(f"/api/v1/deliveries/{delivery_id}/verification", headers=commune)
    assert report.status_code == 200, report.get_data(as_text=True)
    assert report.get_json()["verdict"] == "passed"
    assert len(report.get_json()["signatures"]) == 2

    # Where things landed: the official's signature centred in the box, the seal over its
    # left third, the number and the date in the boxes given for them.
    pdf = client.get(f"/api/v1/documents/{document_id}/file", headers=clerk).data
    fields = _fields(pdf)
    _, official = fields["ChuKyLanhDao"]
    _, seal = fields["ChuKyCoQuan"]
    box = SIGNATURE_PLACE.rect
    assert official.center_x == pytest.approx(box.center_x, abs=0.5)
    assert box.y - 0.5 <= official.y and official.top <= box.top + 0.5
    assert official.x < seal.right < official.center_x
    assert seal.y < box.top and seal.top > box.y
    assert fields[NUMBER_FIELD][0] == "01"
    for name, option in ((NUMBER_FIELD, "number_box"), (DAY_FIELD, "day_box")):
        x, y, _, _ = (float(v) for v in SCAN_BOXES[option].split(","))
        assert fields[name][1].x == pytest.approx(x, abs=0.5), name
        assert fields[name][1].y == pytest.approx(y, abs=0.5), name
    assert fields[MONTH_FIELD][0]
    issued_pdf = tmp_path / "issued.pdf"
    issued_pdf.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(issued_pdf), str(tmp_path / "issued")], check=True
    )
    assert (tmp_path / "issued-1.png").stat().st_size > 0


def test_a_scan_is_signed_with_a_usb_token_and_issued(
    client: Any, headers: Any, scan: bytes
) -> None:
    clerk, chief = headers("tpd.vanthu"), headers("tpd.chutich")
    created = upload(client, clerk, scan, **SCAN_BOXES, signature_box=SIGNATURE_BOX)
    document_id = created.get_json()["id"]
    prepared = client.post(
        f"/api/v1/documents/{document_id}/sign/prepare",
        json={"certificate": dev_cert_path("official-tpd-chutich").read_text()},
        headers=chief,
    )
    assert prepared.status_code == 200, prepared.get_data(as_text=True)
    signature = client_sign("official-tpd-chutich", prepared.get_json()["to_be_signed"], "pss")
    finished = client.post(
        f"/api/v1/documents/{document_id}/sign/finish",
        json={"signature": base64.b64encode(signature).decode()},
        headers=chief,
    )
    assert finished.status_code == 200, finished.get_data(as_text=True)
    issued = client.post(f"/api/v1/documents/{document_id}/issue", headers=clerk)
    assert issued.status_code == 200, issued.get_data(as_text=True)
    pdf = client.get(f"/api/v1/documents/{document_id}/file", headers=clerk).data
    verified = client.post(
        "/api/v1/verify",
        data={"file": (io.BytesIO(pdf), "van-ban.pdf")},
        content_type="multipart/form-data",
    ).get_json()
    assert verified["verdict"] == "passed" and len(verified["signatures"]) == 2
    _, official = _fields(pdf)["ChuKyLanhDao"]
    assert official.center_x == pytest.approx(SIGNATURE_PLACE.rect.center_x, abs=0.5)


def test_a_draft_with_no_signer_block_and_no_box_says_to_give_signature_box(
    client: Any, headers: Any, scan: bytes, session_factory: Any
) -> None:
    """A draft stored before drafts had to say where the official signs: signing says how."""
    clerk, chief = headers("tpd.vanthu"), headers("tpd.chutich")
    created = upload(client, clerk, scan, **SCAN_BOXES, signature_box=SIGNATURE_BOX)
    document_id = created.get_json()["id"]
    with session_factory() as session:
        document = session.scalars(select(Document).where(Document.public_id == document_id)).one()
        document.signature_box = None
        session.commit()
    for reply in (
        client.post(f"/api/v1/documents/{document_id}/sign", json={"pin": PIN}, headers=chief),
        client.post(
            f"/api/v1/documents/{document_id}/sign/prepare",
            json={"certificate": dev_cert_path("official-tpd-chutich").read_text()},
            headers=chief,
        ),
    ):
        body = problem(reply, 422)
        assert "không tìm thấy khối chữ ký" in body["detail"]
        assert "signature_box" in body["detail"] and "signature_box" in body["errors"]
    view = client.get(f"/api/v1/documents/{document_id}", headers=clerk).get_json()
    assert view["state"] == "draft"
