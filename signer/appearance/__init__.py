"""Visible signatures as Decree 30 shows them: official's block, agency seal, top-right text."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO, Literal, cast

from asn1crypto import x509
from pyhanko.pdf_utils.generic import DictionaryObject
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from signer.appearance.drawing import (
    Drawing,
    PreparedStampStyle,
    corner_drawing,
    official_drawing,
    official_image_rect,
    official_rects,
    page_box,
    seal_rect,
    vn_time,
)
from signer.appearance.resources import PreparedImage, load_image, prepare_image, serif_font
from signer.devpki import CHECKOUT_PKI_DIR
from signer.errors import SignerBlockNotFoundError, SigningError
from signer.layout import DocumentLayout, Rect, find_layout

__all__ = [
    "Appearance",
    "Drawing",
    "Placement",
    "PreparedImage",
    "PreparedStampStyle",
    "dev_image_path",
    "format_placement",
    "load_image",
    "locate_appearance",
    "page_box",
    "parse_placement",
    "placement_problem",
    "plan_appearance",
    "prepare_image",
    "vn_time",
]

Role = Literal["official", "agency", "corner"]
# Size assumed for the official's signature image when the agency signs a document whose
# official signature has no widget we can find: the development images' 45 x 20 mm.
DEFAULT_SIGNATURE_SIZE = (45 / 25.4 * 72, 20 / 25.4 * 72)


@dataclass(frozen=True)
class Placement:
    """A configured rectangle (0-based page, lower-left corner, size in points): the fallback."""

    page: int
    x: float
    y: float
    width: float
    height: float

    @property
    def rect(self) -> Rect:
        """As a layout rectangle."""
        return Rect(self.x, self.y, self.width, self.height)


@dataclass(frozen=True)
class Appearance:
    """A visible signature to draw.

    ``official``: ``image`` (the handwritten signature) between title and name, the signer's
    details below it. ``agency``: ``image`` (the seal) at real size over the left third of the
    official's signature. ``corner``: top-right text on page 1 for attachments and electronic
    copies: ``notation`` (number and notation, or the copy type), the agency, the signing time.
    ``signer`` and ``agency`` default to the certificate's common name and organisation.
    ``layout`` saves reading the document again when the caller already has it.
    """

    role: Role
    image: PreparedImage | None = None
    signer: str | None = None
    agency: str | None = None
    notation: str | None = None
    layout: DocumentLayout | None = None
    fallback: Placement | None = None


# An official's signature placed by hand must hold the details band and a legible image
# (drawing.py: 23.6 pt of details, images at least 28 pt high), and no more than the blank a
# Decree 30 layout leaves for it (signer/layout.py, MAX_SIGNATURE_GAP).
MIN_PLACEMENT_WIDTH, MAX_PLACEMENT_WIDTH = 72.0, 360.0
MIN_PLACEMENT_HEIGHT, MAX_PLACEMENT_HEIGHT = 54.0, 220.0
SIGNER_BLOCK_NOT_FOUND = (
    "không tìm thấy khối chữ ký (chức vụ và họ tên người ký) trong văn bản (văn bản quét hoặc "
    "bố cục khác thể thức): cần chỉ rõ vị trí chữ ký (trang, x, y, rộng, cao)"
)
PLACEMENT_FORMAT = (
    "TRANG:x,y,rộng,cao: số trang (trang đầu là 1), dấu hai chấm, rồi bốn số đo bằng point "
    "(1/72 inch), dấu chấm thập phân, tính từ góc dưới bên trái trang, ví dụ 1:345,171.5,150,77.6"
)


def parse_placement(text: str) -> Placement:
    """A signature's place given as "PAGE:x,y,width,height" (PAGE from 1, sizes in points).

    ValueError, in Vietnamese, when the text is not in that form or the size is not sensible.
    """
    page_text, colon, box_text = text.strip().partition(":")
    parts = [part.strip() for part in box_text.split(",")]
    try:
        if not colon or len(parts) != 4:
            raise ValueError
        page = int(page_text.strip())
        x, y, width, height = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"vị trí chữ ký viết theo dạng {PLACEMENT_FORMAT}") from None
    if not all(math.isfinite(v) for v in (x, y, width, height)):
        raise ValueError(f"vị trí chữ ký viết theo dạng {PLACEMENT_FORMAT}")
    if page < 1:
        raise ValueError("số trang của vị trí chữ ký bắt đầu từ 1")
    if not (
        MIN_PLACEMENT_WIDTH <= width <= MAX_PLACEMENT_WIDTH
        and MIN_PLACEMENT_HEIGHT <= height <= MAX_PLACEMENT_HEIGHT
    ):
        raise ValueError(
            f"vùng chữ ký rộng {MIN_PLACEMENT_WIDTH:g} đến {MAX_PLACEMENT_WIDTH:g} point, "
            f"cao {MIN_PLACEMENT_HEIGHT:g} đến {MAX_PLACEMENT_HEIGHT:g} point"
        )
    return Placement(page - 1, x, y, width, height)


def format_placement(placement: Placement) -> str:
    """The text `parse_placement` reads back: "PAGE:x,y,width,height", to 0.01 pt."""
    numbers = (placement.x, placement.y, placement.width, placement.height)
    return f"{placement.page + 1}:" + ",".join(f"{round(v, 2):g}" for v in numbers)


def placement_problem(placement: Placement, page_count: int, page: Rect | None) -> str | None:
    """Why ``placement`` does not fit a document of ``page_count`` pages; None when it does.

    ``page`` is the crop box (or media box) of the page it names, when that page exists.
    """
    if placement.page >= page_count:
        return f"văn bản chỉ có {page_count} trang, không có trang {placement.page + 1}"
    if page is None:
        return None
    rect, slack = placement.rect, 0.5
    if (
        rect.x < page.x - slack
        or rect.y < page.y - slack
        or rect.right > page.right + slack
        or rect.top > page.top + slack
    ):
        return (
            f"vùng chữ ký nằm ngoài trang {placement.page + 1} (trang từ {page.x:g},{page.y:g} "
            f"đến {page.right:g},{page.top:g} point)"
        )
    return None


def dev_image_path(label: str, *, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Development seal (agency-*) or signature (official-*) PNG (DEVELOPMENT ONLY)."""
    return pki_dir / "assets" / f"{label}.png"


def _subject(certificate: x509.Certificate, key: str) -> str | None:
    value = certificate.subject.native.get(key)
    if isinstance(value, list):
        value = value[-1]
    return str(value) if value else None


def _official_place(
    appearance: Appearance, layout: DocumentLayout | None, writer: BasePdfFileWriter
) -> tuple[int, Rect, float, bool]:
    """Page, gap and centre line where the official's signature goes; True for a given place."""
    if layout is not None and layout.signer_page is not None and layout.signature_gap is not None:
        gap = layout.signature_gap
        assert layout.signer_block is not None
        return layout.signer_page, gap, layout.signer_block.center_x, False
    if appearance.fallback is not None:
        place = appearance.fallback
        pages = layout.page_count if layout is not None else int(writer.root["/Pages"]["/Count"])
        box = page_box(writer, place.page) if 0 <= place.page < pages else None
        problem = placement_problem(place, pages, box)
        if problem is not None:
            raise SigningError(f"vị trí chữ ký không dùng được: {problem}")
        return place.page, place.rect, place.rect.center_x, True
    raise SignerBlockNotFoundError(SIGNER_BLOCK_NOT_FOUND)


def locate_appearance(
    appearance: Appearance, pdf: str | os.PathLike[str] | bytes | BinaryIO
) -> Appearance:
    """``appearance`` with the layout of ``pdf`` read now, before anything is spent on signing.

    An official's or agency's signature with neither a signer block nor a place given raises
    SignerBlockNotFoundError here (`issue_document` calls this before taking a number).
    """
    if appearance.role == "corner" or appearance.layout is not None:
        return appearance
    layout = find_layout(pdf)
    if (layout.signer_page is None or layout.signature_gap is None) and appearance.fallback is None:
        raise SignerBlockNotFoundError(SIGNER_BLOCK_NOT_FOUND)
    return replace(appearance, layout=layout)


def _signature_widgets(writer: BasePdfFileWriter, page: int) -> list[Rect]:
    """Rectangles of the visible signature widgets already on ``page``, in document order."""
    found_page = writer.find_page_for_modification(page)  # type: ignore[no-untyped-call]
    page_object = found_page[0].get_object()
    found = []
    for ref in page_object.get("/Annots", []):
        annot = ref.get_object()
        if not isinstance(annot, DictionaryObject) or annot.get("/Subtype") != "/Widget":
            continue
        field = annot if "/FT" in annot else annot.get("/Parent")
        field = field.get_object() if field is not None else annot
        if field.get("/FT") != "/Sig" or "/Rect" not in annot:
            continue
        x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
        if abs(x1 - x0) > 1 and abs(y1 - y0) > 1:
            found.append(Rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
    return found


def _agency_drawing(
    appearance: Appearance, layout: DocumentLayout | None, writer: BasePdfFileWriter
) -> Drawing:
    assert appearance.image is not None
    page, gap, center_x, given = _official_place(appearance, layout, writer)
    # The official signed first: overlap the image of that signature where it really is.
    widgets = [
        w
        for w in _signature_widgets(writer, page)
        if w.x < center_x < w.right and w.y < gap.top and w.top > gap.y
    ]
    if widgets:
        image_rect = official_image_rect(widgets[0])
    else:
        size = DEFAULT_SIGNATURE_SIZE
        image_rect = official_image_rect(official_rects(gap, center_x, *size, fit_width=given))
    return Drawing(
        page,
        seal_rect(image_rect, appearance.image),
        image=appearance.image,
        image_rect=Rect(0, 0, appearance.image.width, appearance.image.height),
    )


def plan_appearance(
    appearance: Appearance,
    writer: BasePdfFileWriter,
    document: IO[bytes],
    certificate: x509.Certificate,
    moment: datetime,
) -> Drawing:
    """Decide page, rectangle and content of a visible signature for this document and signer."""
    signer = appearance.signer or _subject(certificate, "common_name") or ""
    agency = appearance.agency or _subject(certificate, "organization_name") or ""
    font = serif_font()
    if appearance.role == "corner":
        lines = tuple(t for t in (appearance.notation, agency, vn_time(moment)) if t)
        return corner_drawing(page_box(writer, 0), font, lines)
    if appearance.image is None:
        raise SigningError(f"chữ ký hiển thị '{appearance.role}' cần ảnh (chữ ký hoặc con dấu)")
    layout = appearance.layout
    if layout is None:
        layout = find_layout(cast(BinaryIO, document))
    if appearance.role == "agency":
        return _agency_drawing(appearance, layout, writer)
    if appearance.role != "official":
        raise SigningError(f"kiểu chữ ký hiển thị không hợp lệ {appearance.role!r}")
    page, gap, center_x, given = _official_place(appearance, layout, writer)
    image = appearance.image
    rect = official_rects(gap, center_x, image.width, image.height, fit_width=given)
    details = (f"Ký bởi: {signer}", f"Cơ quan: {agency}", f"Thời gian: {vn_time(moment)}")
    return official_drawing(page, rect, appearance.image, font, details)
