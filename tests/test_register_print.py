"""The registers' print view, printed by a real browser (headless Chromium) to A4 landscape."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from exchange.enums import DeliveryStatus, RegisterKind
from exchange.services import deliveries, documents, mailboxes, sending
from exchange.services.registers import export_register
from signer.issuing import vietnam_date
from tests.support.world import PIN, World

pytestmark = pytest.mark.usefixtures("dev_services")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _print_to_pdf(html: str, directory: Path) -> tuple[str, tuple[float, float]]:
    """Chromium's print of the page: its text (pdftotext) and page size in points."""
    if CHROMIUM is None:
        pytest.fail("Chromium is needed for the print test (.ci/setup installs Debian's chromium)")
    page = directory / "register.html"
    page.write_text(html, encoding="utf-8")
    output = directory / "register.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={directory / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={output}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = subprocess.run(
        ["pdftotext", str(output), "-"], check=True, capture_output=True, text=True
    ).stdout
    # Cells wrap inside their column: read each cell's text as one line again.
    text = re.sub(r"-\s+", "-", " ".join(text.split()))
    info = subprocess.run(["pdfinfo", str(output)], check=True, capture_output=True, text=True)
    size = next(line for line in info.stdout.splitlines() if line.startswith("Page size:"))
    width, _, height = size.split(":", 1)[1].split()[:3]
    return text, (float(width), float(height))


def test_registers_print_in_the_official_layout(
    world: World, sample_pdf: Path, tmp_path: Path
) -> None:
    runtime = world.runtime
    with world.session_factory() as session:
        with sample_pdf.open("rb") as upload:
            draft = documents.create_document(
                session,
                runtime,
                world.actor("tpd.vanthu"),
                upload,
                documents.DraftInput(
                    "Công văn", "Về việc đẩy mạnh cải cách hành chính", notation="UBND-VP"
                ),
            )
        documents.sign_document(
            session, runtime, world.actor("tpd.chutich"), draft.public_id, pin=PIN
        )
        documents.issue(session, runtime, world.actor("tpd.vanthu"), draft.public_id)
        sending.send(
            session, runtime, world.actor("tpd.vanthu"), draft.public_id, agencies=["DEV.TPD.X01"]
        )
    world.run_jobs()
    clerk = world.actor("tanthoi.vanthu")
    with world.session_factory() as session:
        delivery_id = mailboxes.inbox(session, clerk)[0]["delivery"]["id"]
        deliveries.change_status(session, runtime, clerk, delivery_id, DeliveryStatus.REGISTERED)
        year = vietnam_date(runtime.now()).year
        outgoing = export_register(session, "DEV.TPD.000", RegisterKind.OUTGOING, year, "html")
        incoming = export_register(session, "DEV.TPD.X01", RegisterKind.INCOMING, year, "html")

    (tmp_path / "out").mkdir()
    text, size = _print_to_pdf(outgoing, tmp_path / "out")
    # A4 landscape: 297 x 210 mm is 841.9 x 595.3 points.
    assert size == pytest.approx((841.9, 595.3), abs=2), size
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐI" in text
    assert "01/UBND-VP" in text
    assert "cải cách hành chính" in text
    assert f"{vietnam_date(runtime.now()):%d/%m/%Y}" in text  # no date broken across lines
    assert "Số lượng bản" in text
    assert "Ủy ban nhân dân xã Tân Thới" in text  # nơi nhận

    (tmp_path / "in").mkdir()
    text, size = _print_to_pdf(incoming, tmp_path / "in")
    assert size == pytest.approx((841.9, 595.3), abs=2), size
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in text
    # The issuing agency; its name may wrap inside the "Tác giả" column, and the text of the next
    # column then comes between its two lines.
    assert "Ủy ban nhân dân" in text and "huyện Tân Phú Đông" in text
    assert "01/UBND-VP" in text
