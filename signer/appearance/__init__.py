"""Visible signatures as Decree 30 shows them: official's block, agency seal, top-right text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO, Literal, cast

from asn1crypto import x509
from pyhanko.pdf_utils.generic import DictionaryObject
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from signer.appearance.drawing import (
    VN_TIME,
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
from signer.devpki import DEV_PKI_DIR
from signer.errors import SigningError
from signer.layout import DocumentLayout, Rect, find_layout

__all__ = [
    "VN_TIME",
    "Appearance",
    "Drawing",
    "Placement",
    "PreparedImage",
    "PreparedStampStyle",
    "dev_image_path",
    "load_image",
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


def dev_image_path(label: str) -> Path:
    """Development seal (agency-*) or signature (official-*) PNG (DEVELOPMENT ONLY)."""
    return DEV_PKI_DIR / "assets" / f"{label}.png"


def _subject(certificate: x509.Certificate, key: str) -> str | None:
    value = certificate.subject.native.get(key)
    if isinstance(value, list):
        value = value[-1]
    return str(value) if value else None


def _official_place(
    appearance: Appearance, layout: DocumentLayout | None
) -> tuple[int, Rect, float]:
    """Page, gap and centre line where the official's signature goes."""
    if layout is not None and layout.signer_page is not None and layout.signature_gap is not None:
        gap = layout.signature_gap
        assert layout.signer_block is not None
        return layout.signer_page, gap, layout.signer_block.center_x
    if appearance.fallback is not None:
        rect = appearance.fallback.rect
        return appearance.fallback.page, rect, rect.center_x
    raise SigningError(
        "không tìm thấy khối chữ ký (chức vụ và họ tên người ký) trong văn bản; "
        "hãy cấu hình vị trí chữ ký (trang, x, y, rộng, cao)"
    )


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
    page, gap, center_x = _official_place(appearance, layout)
    # The official signed first: overlap the image of that signature where it really is.
    widgets = [
        w
        for w in _signature_widgets(writer, page)
        if w.x < center_x < w.right and w.y < gap.top and w.top > gap.y
    ]
    if widgets:
        image_rect = official_image_rect(widgets[0])
    else:
        image_rect = official_image_rect(official_rects(gap, center_x, *DEFAULT_SIGNATURE_SIZE))
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
    page, gap, center_x = _official_place(appearance, layout)
    rect = official_rects(gap, center_x, appearance.image.width, appearance.image.height)
    details = (f"Ký bởi: {signer}", f"Cơ quan: {agency}", f"Thời gian: {vn_time(moment)}")
    return official_drawing(page, rect, appearance.image, font, details)
