"""The producer matrix: the same Decree 30 letter as LibreOffice, Chromium, Ghostscript, qpdf,
Office-style hybrid files and a scanner make it, each one drafted, signed by the official,
issued (number, date, seal, agency signature), verified by congvan and by poppler, and
rendered; and each one signed twice by another tool (plain pyHanko) and verified here.

The files are made by tests/support/producers.py once per session; a missing program fails the test
(run .ci/setup), it is never skipped.
"""

from __future__ import annotations

import functools
import io
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType
from pyhanko.sign import signers

from signer.appearance import Placement
from signer.credentials import Credential, load_credential
from signer.devpki import DEV_PASSPHRASE, DevServices, dev_p12_path
from signer.issuing import InMemoryCounter, IssueBlanks, issue_document, prepare_draft
from signer.issuing.blanks import Blank
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import VerificationReport, verify_pdf
from tests.support import producers
from tests.support.devservices import agency_options, official_options
from tests.support.producers import BY_NAME, PRODUCERS, Producer, ProducerMatrix

NAMES = [producer.name for producer in PRODUCERS]
# 27 November 2026, 09:15 in Vietnam.
ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
RENDER_DPI = 100


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> ProducerMatrix:
    """The producers' files, made on first use once per session."""
    producers.environment_ok()
    return ProducerMatrix(tmp_path_factory.mktemp("producers"))


@functools.cache
def _credential(label: str) -> Credential:
    return load_credential(dev_p12_path(label), DEV_PASSPHRASE)


def _reader(path: Path, *, strict: bool = True) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(path.read_bytes()), strict=strict)


def _section_types(reader: PdfFileReader) -> list[XRefSectionType]:
    xrefs = reader.xrefs
    return [
        xrefs.get_xref_container_info(revision).xref_section_type
        for revision in range(xrefs.total_revisions)
    ]


def _has_object_stream(reader: PdfFileReader) -> bool:
    """True when some object of the file is stored in an object stream (/ObjStm)."""
    return any(
        reader.xrefs.object_streams_used_in(revision)
        for revision in range(reader.xrefs.total_revisions)
    )


def _info(path: Path) -> dict[str, str]:
    out = producers.run(["pdfinfo", str(path)])
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in out.splitlines())
    }


# --- (a) each file really is what its producer claims ------------------------------------------


def _check_libreoffice(path: Path) -> None:
    assert _info(path)["Producer"].startswith("LibreOffice")
    assert set(_section_types(_reader(path))) == {XRefSectionType.STANDARD}
    fonts = producers.fonts(path)
    assert fonts and all("LiberationSerif" in font for font in fonts), fonts


def _check_fallback(path: Path) -> None:
    assert _info(path)["Producer"].startswith("LibreOffice")
    fonts = producers.fonts(path)
    # The chosen font and the one LibreOffice fell back to for the stacked Vietnamese letters.
    assert any("NimbusRoman" in font for font in fonts), fonts
    assert any("LiberationSerif" in font for font in fonts), fonts
    assert all("NimbusRoman" in font or "LiberationSerif" in font for font in fonts), fonts
    from fontTools.ttLib import TTFont

    chosen = producers.run(["fc-match", "-f", "%{file}", producers.FONT_WITHOUT_VIETNAMESE])
    assert "NimbusRoman" in chosen, chosen
    cmap = TTFont(chosen).getBestCmap()
    assert "ă" in "".join(map(chr, cmap))  # a Latin font, just not a Vietnamese one
    assert not any(ord(letter) in cmap for letter in producers.STACKED_LETTERS)


def _check_chromium(path: Path) -> None:
    assert _info(path)["Producer"].startswith("Skia/PDF")
    assert _info(path)["Page size"].endswith("(A4)")


def _check_ghostscript(path: Path) -> None:
    assert "Ghostscript" in _info(path)["Producer"]


def _check_object_streams(path: Path) -> None:
    reader = _reader(path)
    assert XRefSectionType.STREAM in _section_types(reader)
    assert b"/ObjStm" in path.read_bytes()
    assert _has_object_stream(reader)


def _check_linearized(path: Path) -> None:
    head = path.read_bytes()[:1024]
    assert re.search(rb"<<\s*/Linearized\s+1", head), head[:200]
    assert _info(path)["Optimized"] == "yes"


def _check_pdf20(path: Path) -> None:
    assert path.read_bytes().startswith(b"%PDF-2.0")
    assert _reader(path).input_version == (2, 0)


def _check_encrypted(path: Path) -> None:
    reader = _reader(path)
    assert reader.encrypted
    assert reader.decrypt(b"").status == AuthStatus.USER  # opens without a password
    again = _reader(path)
    assert again.decrypt(producers.OWNER_PASSWORD.encode()).status == AuthStatus.OWNER
    assert "AES-256" in _info(path)["Encrypted"]


def _check_hybrid(path: Path) -> None:
    reader = _reader(path, strict=False)
    assert reader.xrefs.hybrid_xrefs_present
    assert b"/XRefStm" in path.read_bytes()


def _check_scan(path: Path) -> None:
    assert producers.page_text(path) == ""
    assert producers.fonts(path) == []
    images = producers.run(["pdfimages", "-list", str(path)]).splitlines()[2:]
    assert len(images) == 1 and " gray " in images[0], images


CHECKS = {
    "libreoffice": _check_libreoffice,
    "libreoffice-fallback": _check_fallback,
    "chromium": _check_chromium,
    "ghostscript": _check_ghostscript,
    "qpdf-object-streams": _check_object_streams,
    "qpdf-linearized": _check_linearized,
    "qpdf-pdf20": _check_pdf20,
    "qpdf-encrypted": _check_encrypted,
    "hybrid": _check_hybrid,
    "scan": _check_scan,
}


@pytest.mark.parametrize("name", NAMES)
def test_the_file_is_what_its_producer_makes(matrix: ProducerMatrix, name: str) -> None:
    path = matrix.path(name)
    CHECKS.get(name, _check_object_streams)(path)
    if not BY_NAME[name].scan:
        text = producers.page_text(path)
        assert "Số:" in text and "năm 2026" in text
        if not name.startswith("sample-"):
            for words in ("Ủy ban nhân dân", "Quyết định", "tiếp nhận", "những", "PHÓ CHỦ TỊCH"):
                assert words in text, (words, text)


# --- (b) the whole two-signature issue ---------------------------------------------------------


def _official_signs(
    producer: Producer, draft: Path, out: Path, place: Placement | None, dev: DevServices
) -> None:
    sign_pdf(
        draft,
        out,
        _credential(producer.official),
        official_options(dev, producer.official, fallback=place),
    )


def _agency_options(producer: Producer, place: Placement | None, dev: DevServices) -> SignOptions:
    return agency_options(dev, producer.agency, fallback=place)


def _verify(data: Path | bytes) -> VerificationReport:
    return verify_pdf(data, trust=load_trust(development=True), offline=True)


def _dark_pixels(image: Image.Image, blank: Blank, page_height: float) -> int:
    """Dark pixels inside a blank's box (PDF points) on a page rendered at RENDER_DPI."""
    scale = RENDER_DPI / 72
    box = (
        round(blank.x1 * scale) + 1,
        round((page_height - blank.y2) * scale) + 1,
        round(blank.x2 * scale) - 1,
        round((page_height - blank.y1) * scale) - 1,
    )
    cropped = image.crop(box)
    return sum(cropped.histogram()[:128])


def _render(pdf: Path, page: int, prefix: Path) -> Image.Image:
    return Image.open(producers.render_gray(pdf, prefix, RENDER_DPI, page + 1)).convert("L")


@pytest.mark.parametrize("name", NAMES)
def test_drafted_signed_issued_verified_and_rendered(
    matrix: ProducerMatrix, name: str, tmp_path: Path, dev: DevServices, nss_db: str
) -> None:
    producer = BY_NAME[name]
    source = matrix.path(name)
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    # A scan has no text to find the blanks or the signer block in: measured on the page it
    # was scanned from, and given explicitly as a clerk would.
    given: IssueBlanks | None = None
    place: Placement | None = None
    if producer.scan:
        given = producers.measured_blanks(matrix.path("libreoffice"))
        place = producers.measured_signature_place(matrix.path("libreoffice"))

    blanks = prepare_draft(source, draft, given)
    _official_signs(producer, draft, signed, place, dev)
    result = issue_document(
        signed,
        issued,
        _credential(producer.agency),
        InMemoryCounter(),
        _agency_options(producer, place, dev),
        now=ISSUED_AT,
    )
    assert result.number == 1

    report = _verify(issued)
    assert report.verdict == "passed", report.to_dict()
    by_field = {signature.field: signature for signature in report.signatures}
    assert set(by_field) == {"ChuKyLanhDao", "ChuKyCoQuan"}, report.to_dict()
    assert by_field["ChuKyLanhDao"].verdict == "passed", report.to_dict()
    assert by_field["ChuKyLanhDao"].modifications == "form_filling", report.to_dict()
    assert by_field["ChuKyCoQuan"].verdict == "passed", report.to_dict()
    assert report.modified_after_signing is False, report.to_dict()

    pdfsig = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(issued)], capture_output=True, text=True, timeout=60
    )
    assert pdfsig.stdout.count("Signature is Valid.") == 2, pdfsig.stdout + pdfsig.stderr
    assert pdfsig.stdout.count("Certificate is Trusted.") == 2, pdfsig.stdout

    # The number and the date stand where the blanks were: dark where the official saw white.
    height = float(_info(issued)["Page size"].split()[2])
    before = _render(signed, blanks.page, tmp_path / "signed")
    after = _render(issued, blanks.page, matrix.directory / f"issued-{name}")
    after.save(matrix.directory / f"issued-{name}.png")  # to look at after the run
    for field, blank in blanks.items():
        assert _dark_pixels(before, blank, height) == 0, (field, blank)
        assert _dark_pixels(after, blank, height) >= 15, (field, blank)
    if not producer.scan:
        text = producers.page_text(issued)
        assert re.search(rf"Số:\s*01\s*{re.escape(producer.notation)}", text), text
        assert re.search(r"ngày\s*27\s*tháng\s*11\s*năm 2026", text), text
        assert "Số: 01" not in producers.page_text(signed)


# --- (c) files signed by another tool ------------------------------------------------------------


def _pyhanko_signs(data: bytes, label: str, field: str, *, strict: bool) -> bytes:
    """Sign as another tool would: pyHanko straight, its defaults, a PKCS#12 file."""
    signer = signers.SimpleSigner.load_pkcs12(
        str(dev_p12_path(label)), passphrase=DEV_PASSPHRASE.encode()
    )
    assert signer is not None
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=strict)
    if writer.prev.encrypted:
        writer.encrypt(b"")  # the empty user password opens it, as any reader does
    out = io.BytesIO()
    signers.sign_pdf(
        writer, signers.PdfSignatureMetadata(field_name=field), signer=signer, output=out
    )
    return out.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_signed_twice_by_another_tool_verifies(matrix: ProducerMatrix, name: str) -> None:
    producer = BY_NAME[name]
    strict = name != "hybrid"  # pyHanko reads hybrid files only when not strict
    data = matrix.path(name).read_bytes()
    data = _pyhanko_signs(data, producer.official, "Signature1", strict=strict)
    data = _pyhanko_signs(data, producer.agency, "Signature2", strict=strict)

    report = _verify(data)
    assert report.verdict == "passed", report.to_dict()
    assert [signature.field for signature in report.signatures] == ["Signature1", "Signature2"]
    assert all(signature.verdict == "passed" for signature in report.signatures), report.to_dict()
    assert report.signatures[-1].coverage == "entire_file", report.to_dict()
    assert report.modified_after_signing is False, report.to_dict()
