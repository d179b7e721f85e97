"""Visible signatures: placement from the document, rendered seal and signature, text, validity."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.appearance import Appearance, Placement, dev_image_path, load_image
from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, DEV_TSA_URL, DevServices, dev_p12_path
from signer.errors import SigningError
from signer.layout import Rect, find_layout
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import verify_pdf
from tests.support.devservices import dev_sign_options

# (sample, official label, agency label, signer page, title line, name line, number notation)
SAMPLES = [
    (
        "cong-van-cai-cach-hanh-chinh.pdf",
        "official-tpd-phochutich",
        "agency-tpd",
        0,
        "PHÓ CHỦ TỊCH",
        "Trần Thị Bích Ngọc",
        "/UBND-VP",
    ),
    (
        "giay-moi-doi-thoai.pdf",
        "official-phuthanh-chutich",
        "agency-phuthanh",
        0,
        "CHỦ TỊCH",
        "Nguyễn Hoàng Minh",
        "/GM-UBND",
    ),
    (
        "quyet-dinh-quy-che-van-ban-dien-tu.pdf",
        "official-tanthoi-chutich",
        "agency-tanthoi",
        2,
        "CHỦ TỊCH",
        "Lê Văn Phúc",
        "/QĐ-UBND",
    ),
]
ALL_VIETNAMESE = (
    "aàảãáạ ăằẳẵắặ âầẩẫấậ đ eèẻẽéẹ êềểễếệ iìỉĩíị oòỏõóọ ôồổỗốộ ơờởỡớợ "
    "uùủũúụ ưừửữứự yỳỷỹýỵ ĂÂĐÊÔƠƯ ẰẦỀỒỜỪỲ"
)


def _pages(node: Any) -> Iterator[Any]:
    node = node.get_object()
    if node.get("/Type") == "/Pages":
        for kid in node["/Kids"]:
            yield from _pages(kid)
    else:
        yield node


def _widgets(pdf: Path, page: int) -> list[Rect]:
    """Signature widget rectangles on a page, in the order the signatures were made."""
    with pdf.open("rb") as handle:
        reader = PdfFileReader(handle)
        page_object = list(_pages(reader.root["/Pages"]))[page]
        rects = []
        for ref in page_object.get("/Annots", []):
            annot = ref.get_object()
            if annot.get("/FT") != "/Sig":
                continue
            x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
            rects.append(Rect(x0, y0, x1 - x0, y1 - y0))
        return rects


def _render(pdf: Path, page: int, out: Path) -> Image.Image:
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / f"page{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "72",
            "-png",
            "-f",
            str(page + 1),
            "-l",
            str(page + 1),
            "-singlefile",
            str(pdf),
            str(prefix),
        ],
        check=True,
        timeout=60,
    )
    return Image.open(f"{prefix}.png").convert("RGB")


def _crop(image: Image.Image, rect: Rect, page_height: float) -> list[tuple[int, int, int]]:
    """Pixels inside a PDF rectangle at 72 dpi (1 px = 1 pt, y downwards)."""
    box = (
        int(rect.x) + 1,
        int(page_height - rect.top) + 1,
        int(rect.right) - 1,
        int(page_height - rect.y) - 1,
    )
    cropped = image.crop(box)
    return [cropped.getpixel((x, y)) for y in range(cropped.height) for x in range(cropped.width)]


def _red(pixels: list[tuple[int, int, int]]) -> int:
    return sum(1 for r, g, b in pixels if r > 150 and g < 100 and b < 100)


def _blue(pixels: list[tuple[int, int, int]]) -> int:
    return sum(1 for r, g, b in pixels if b > 120 and r < 90 and g < 110)


def _page_text(pdf: Path, page: int) -> str:
    run = subprocess.run(
        ["pdftotext", "-f", str(page + 1), "-l", str(page + 1), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return run.stdout


@pytest.mark.parametrize("sample", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_layout_finds_signer_block_number_and_date(samples_dir: Path, sample: tuple) -> None:
    name, _, _, page, title, signer_name, notation = sample
    layout = find_layout(samples_dir / name)
    assert layout.signer_page == page
    assert layout.title is not None and layout.title.text == title
    assert layout.name is not None and layout.name.text == signer_name
    assert layout.number is not None and layout.number.page == 0
    assert layout.number.text.startswith("Số:") and layout.number.text.endswith(notation)
    assert layout.date is not None and "ngày" in layout.date.text and "năm" in layout.date.text
    gap = layout.signature_gap
    assert gap is not None and 40 < gap.height < 120
    assert gap.x > 297  # right column of an A4 page


@pytest.mark.parametrize("sample", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_official_and_agency_signatures_render_verify_and_read_in_vietnamese(
    dev: DevServices, samples_dir: Path, tmp_path: Path, nss_db: str, sample: tuple
) -> None:
    name, official_label, agency_label, page, *_ = sample
    source = samples_dir / name
    official = load_credential(dev_p12_path(official_label), DEV_PASSPHRASE)
    agency = load_credential(dev_p12_path(agency_label), DEV_PASSPHRASE)
    roots = load_trust(development=True).roots
    first, issued = tmp_path / "official.pdf", tmp_path / "issued.pdf"
    sign_pdf(
        source,
        first,
        official,
        dev_sign_options(
            dev,
            level="b-t",
            tsa_url=DEV_TSA_URL,
            appearance=Appearance("official", image=load_image(dev_image_path(official_label))),
        ),
    )
    sign_pdf(
        first,
        issued,
        agency,
        dev_sign_options(
            dev,
            level="b-lt",
            tsa_url=DEV_TSA_URL,
            trust_roots=roots,
            appearance=Appearance("agency", image=load_image(dev_image_path(agency_label))),
        ),
    )

    widget, seal = _widgets(issued, page)
    # The official's image sits above the details band; the seal's right edge a third into it.
    details_band = 23.6
    image = Rect(widget.x, widget.y + details_band, widget.width, widget.height - details_band)
    assert seal.right == pytest.approx(image.x + image.width / 3, abs=1.0)
    assert seal.x < image.x < seal.right
    assert 36 <= seal.width * 25.4 / 72 <= 42  # real size, in millimetres
    layout = find_layout(source)
    assert layout.title is not None and layout.name is not None
    assert layout.name.rect.top <= widget.y and widget.top <= layout.title.rect.y + 1

    height = 841.89
    blank = _render(source, page, tmp_path / "before")
    signed = _render(issued, page, tmp_path / "after")
    right_of_seal = Rect(seal.right + 2, image.y, image.right - seal.right - 4, image.height)
    assert _blue(_crop(blank, right_of_seal, height)) == 0
    assert _blue(_crop(signed, right_of_seal, height)) > 50, "signature image missing"
    assert _red(_crop(blank, seal, height)) == 0
    assert _red(_crop(signed, seal, height)) > 500, "seal missing"

    holder = official.certificate.subject.native["common_name"]
    assert holder not in _page_text(source, page)
    text = _page_text(issued, page)
    assert f"Ký bởi: {holder}" in text
    assert re.search(r"Thời gian: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", text)

    report = verify_pdf(issued, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", report.reason
    assert len(report.signatures) == 2
    run = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(issued)], capture_output=True, text=True, timeout=60
    )
    assert run.stdout.count("Signature is Valid.") == 2, run.stdout + run.stderr
    assert run.stdout.count("Certificate is Trusted.") == 2, run.stdout


def test_copy_text_top_right_of_page_one(samples_dir: Path, tmp_path: Path, nss_db: str) -> None:
    agency = load_credential(dev_p12_path("agency-phuthanh"), DEV_PASSPHRASE)
    out = tmp_path / "copy.pdf"
    sign_pdf(
        samples_dir / "giay-moi-doi-thoai.pdf",
        out,
        agency,
        SignOptions(
            appearance=Appearance("corner", notation="BẢN SAO ĐIỆN TỬ"),
        ),
    )
    (rect,) = _widgets(out, 0)
    assert rect.right > 595 - 40 and rect.top > 842 - 20  # top right, inside the margins
    run = subprocess.run(
        [
            "pdftotext",
            "-f",
            "1",
            "-l",
            "1",
            "-x",
            str(int(rect.x)),
            "-y",
            "0",
            "-W",
            str(int(rect.width) + 2),
            "-H",
            str(int(842 - rect.y) + 2),
            str(out),
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [ln.strip() for ln in run.stdout.splitlines() if ln.strip()]
    assert lines[0] == "BẢN SAO ĐIỆN TỬ"
    assert lines[1] == "Ủy ban nhân dân xã Phú Thạnh"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", lines[2])
    pixels = _crop(_render(out, 0, tmp_path), rect, 841.89)
    assert sum(1 for r, g, b in pixels if r < 80 and g < 80 and b < 80) > 50  # black text
    pdfsig = subprocess.run(["pdfsig", "-nssdir", nss_db, str(out)], capture_output=True, text=True)
    assert "Signature is Valid." in pdfsig.stdout


def test_every_vietnamese_letter_and_tone_mark_survives(samples_dir: Path, tmp_path: Path) -> None:
    agency = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    out = tmp_path / "all.pdf"
    sign_pdf(
        samples_dir / "cong-van-cai-cach-hanh-chinh.pdf",
        out,
        agency,
        SignOptions(
            appearance=Appearance("corner", notation=ALL_VIETNAMESE),
        ),
    )
    assert ALL_VIETNAMESE in _page_text(out, 0)
    with out.open("rb") as handle:
        fonts = handle.read()
    assert b"/FontFile2" in fonts and b"LiberationSerif" in fonts  # embedded, not base 14


def _plain_pdf(path: Path) -> None:
    """One A4 page with one line of text and no signer block."""
    content = b"BT /F1 12 Tf 72 720 Td (Plain text, no signer block) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


def test_configured_rectangle_is_the_fallback(tmp_path: Path) -> None:
    source = tmp_path / "plain.pdf"
    _plain_pdf(source)
    credential = load_credential(dev_p12_path("official-tpd-chutich"), DEV_PASSPHRASE)
    image = load_image(dev_image_path("official-tpd-chutich"))
    with pytest.raises(SigningError, match="khối chữ ký"):
        sign_pdf(
            source,
            tmp_path / "no.pdf",
            credential,
            SignOptions(appearance=Appearance("official", image=image)),
        )
    fallback = Placement(page=0, x=300, y=100, width=200, height=90)
    out = tmp_path / "fallback.pdf"
    sign_pdf(
        source,
        out,
        credential,
        SignOptions(appearance=Appearance("official", image=image, fallback=fallback)),
    )
    (widget,) = _widgets(out, 0)
    assert widget.x >= 300 and widget.right <= 500 and widget.y >= 100 and widget.top <= 190
    assert widget.center_x == pytest.approx(400, abs=0.5)


def test_details_are_never_cut_off_in_a_narrow_gap() -> None:
    """A short gap shrinks the signature image; its three lines of details still fit whole."""
    from signer.appearance.drawing import DETAILS_MIN_SIZE, official_drawing, official_rects
    from signer.appearance.resources import serif_font

    font = serif_font()
    image = load_image(dev_image_path("official-tpd-phochutich"))
    details = (
        "Ký bởi: Trần Thị Hồng Nhung",
        "Cơ quan: Ủy ban nhân dân huyện Tân Phú Đông",
        "Thời gian: 27/11/2026 09:15:00 +07:00",
    )
    gap = Rect(330, 500, 200, 58)  # what a scanned page left between title and name
    rect = official_rects(gap, gap.center_x, image.width, image.height)
    drawing = official_drawing(0, rect, image, font, details)
    assert drawing.rect.center_x == pytest.approx(rect.center_x)
    assert drawing.image_rect is not None
    assert drawing.image_rect.width == pytest.approx(rect.width)  # the image keeps its size
    for run in drawing.runs:
        assert run.size >= DETAILS_MIN_SIZE
        assert run.x >= 0
        assert run.x + font.width(run.text, run.size) <= drawing.rect.width + 1e-6
