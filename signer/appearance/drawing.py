"""Where each visible signature goes and what its appearance stream draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject, pdf_name
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from signer.appearance.resources import PreparedFont, PreparedImage
from signer.layout import Rect
from signer.vietnam_time import VIETNAM_TIME

__all__ = [
    "Drawing",
    "PreparedStampStyle",
    "corner_drawing",
    "official_image_rect",
    "official_rects",
    "seal_rect",
    "text_block",
    "vn_time",
]

# The signer's details under the signature image: three lines of small type.
DETAILS_SIZE = 6.0
DETAILS_MIN_SIZE = 4.0
DETAILS_LEADING = 1.2
DETAILS_LINES = 3
DETAILS_HEIGHT = DETAILS_LINES * DETAILS_SIZE * DETAILS_LEADING + 2.0
# A signature image is never drawn smaller than this, even when the document left little room.
MIN_IMAGE_HEIGHT = 28.0
GAP_PADDING = 1.0
# Top-right text of attachments and copies: 10 pt, 10 mm from the right edge, 5 mm from the top.
CORNER_SIZE = 10.0
CORNER_LEADING = 1.2
CORNER_RIGHT_MARGIN = 28.0
CORNER_TOP_MARGIN = 14.0
BLACK = b"0 g"


def vn_time(moment: datetime) -> str:
    """ISO 8601 in Vietnam time, to the second, e.g. 2026-03-02T09:15:04+07:00."""
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")


def _n(value: float) -> bytes:
    return (b"%.3f" % value).rstrip(b"0").rstrip(b".")


@dataclass(frozen=True)
class TextRun:
    """One line of text at a baseline position in the appearance's own coordinates."""

    x: float
    y: float
    size: float
    text: str


@dataclass(frozen=True)
class Drawing:
    """A visible signature: page, widget rectangle, and the appearance's content and resources."""

    page: int
    rect: Rect
    image: PreparedImage | None = None
    image_rect: Rect | None = None  # relative to the widget
    runs: tuple[TextRun, ...] = ()
    font: PreparedFont | None = None

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The widget rectangle as (left, bottom, right, top)."""
        return (self.rect.x, self.rect.y, self.rect.right, self.rect.top)

    def commands(self) -> bytes:
        """The appearance content stream (resources /Im1 and /F1)."""
        parts = [b"q"]
        if self.image is not None and self.image_rect is not None:
            r = self.image_rect
            parts.append(
                b"q %s 0 0 %s %s %s cm /Im1 Do Q" % (_n(r.width), _n(r.height), _n(r.x), _n(r.y))
            )
        if self.runs and self.font is not None:
            parts.append(b"BT " + BLACK)
            for run in self.runs:
                parts.append(
                    b"/F1 %s Tf 1 0 0 1 %s %s Tm %s Tj"
                    % (_n(run.size), _n(run.x), _n(run.y), self.font.encode(run.text))
                )
            parts.append(b"ET")
        parts.append(b"Q")
        return b"\n".join(parts)


class _PreparedStamp(BaseStamp):  # type: ignore[misc]  # pyHanko ships no types we check
    def __init__(self, writer: BasePdfFileWriter, style: PreparedStampStyle, box: BoxConstraints):
        super().__init__(writer, style, box)
        assert style.drawing is not None
        self._drawing: Drawing = style.drawing
        self._writer: BasePdfFileWriter = writer

    def render(self) -> bytes:
        drawing = self._drawing
        if drawing.image is not None:
            ref = drawing.image.embed(self._writer)
            self.set_resource(ResourceType.XOBJECT, pdf_name("/Im1"), ref)
        if drawing.font is not None and drawing.runs:
            ref = drawing.font.embed(self._writer)
            self.set_resource(ResourceType.FONT, pdf_name("/F1"), ref)
        return drawing.commands()


@dataclass(frozen=True)
class PreparedStampStyle(BaseStampStyle):  # type: ignore[misc]
    """A stamp style drawing an already planned :class:`Drawing`, with no border or background."""

    drawing: Drawing | None = None
    border_width: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: BoxConstraints, text_params: dict[str, str]
    ) -> BaseStamp:
        assert self.drawing is not None
        return _PreparedStamp(writer, self, box)


def text_block(
    font: PreparedFont, lines: tuple[str, ...], size: float, width: float, align: str
) -> tuple[TextRun, ...]:
    """Lines from the top of a block ``width`` wide, downwards, aligned centre or right."""
    runs = []
    height = len(lines) * size * CORNER_LEADING
    for index, text in enumerate(lines):
        baseline = height - (index + 1) * size * CORNER_LEADING + size * 0.25
        advance = font.width(text, size)
        x = (width - advance) / 2 if align == "center" else width - advance
        runs.append(TextRun(x, baseline, size, text))
    return tuple(runs)


def official_rects(
    gap: Rect,
    center_x: float,
    image_width: float,
    image_height: float,
    *,
    fit_width: bool = False,
) -> Rect:
    """Widget of the official's signature: image centred in the gap, details in a band below.

    The image fits the gap's height; with ``fit_width`` (a place given by hand, not the blank
    of a signer block, which the image may overhang) its width too.
    """
    room = gap.height - 2 * GAP_PADDING - DETAILS_HEIGHT
    scale = min(1.0, max(room, MIN_IMAGE_HEIGHT) / image_height)
    if fit_width:
        scale = min(scale, (gap.width - 2 * GAP_PADDING) / image_width)
    width, height = image_width * scale, image_height * scale + DETAILS_HEIGHT
    return Rect(center_x - width / 2, gap.y + (gap.height - height) / 2, width, height)


def official_image_rect(widget: Rect) -> Rect:
    """Where the signature image is inside an official's widget (page coordinates)."""
    if widget.height <= DETAILS_HEIGHT + 1:
        return widget
    return Rect(widget.x, widget.y + DETAILS_HEIGHT, widget.width, widget.height - DETAILS_HEIGHT)


def official_drawing(
    page: int, rect: Rect, image: PreparedImage, font: PreparedFont, details: tuple[str, ...]
) -> Drawing:
    """The official's signature image over the details band, both fitted to ``rect``.

    The details shrink to DETAILS_MIN_SIZE for a narrow image; beyond that the widget widens
    around the image (kept at its size, centred) so that no line of the details is cut off.
    """
    size = DETAILS_SIZE
    widest = max(font.width(line, 1.0) for line in details)
    if widest * size > rect.width:
        size = max(DETAILS_MIN_SIZE, rect.width / widest)
    image_width = rect.width
    needed = widest * size + 2 * GAP_PADDING
    if needed > rect.width:
        rect = Rect(rect.center_x - needed / 2, rect.y, needed, rect.height)
    runs = text_block(font, details, size, rect.width, "center")
    image_rect = Rect(
        (rect.width - image_width) / 2, DETAILS_HEIGHT, image_width, rect.height - DETAILS_HEIGHT
    )
    return Drawing(page, rect, image=image, image_rect=image_rect, runs=runs, font=font)


def seal_rect(official_image: Rect, seal: PreparedImage) -> Rect:
    """The seal at real size, right edge a third into the signature image, centred on its height."""
    center_y = official_image.y + official_image.height / 2
    right = official_image.x + official_image.width / 3
    return Rect(right - seal.width, center_y - seal.height / 2, seal.width, seal.height)


def corner_drawing(page_box: Rect, font: PreparedFont, lines: tuple[str, ...]) -> Drawing:
    """Top-right text on page 1 for attachments and electronic copies, 10 pt, right-aligned."""
    width = max(font.width(line, CORNER_SIZE) for line in lines) + 1
    height = len(lines) * CORNER_SIZE * CORNER_LEADING + 1
    rect = Rect(
        page_box.right - CORNER_RIGHT_MARGIN - width,
        page_box.top - CORNER_TOP_MARGIN - height,
        width,
        height,
    )
    runs = text_block(font, lines, CORNER_SIZE, width, "right")
    return Drawing(0, rect, runs=runs, font=font)


def page_box(pdf: PdfHandler, page: int) -> Rect:
    """The page's crop box (or media box), following inheritance up the page tree."""
    found = pdf.find_page_for_modification(page)  # type: ignore[no-untyped-call]
    node: DictionaryObject | None = found[0].get_object()
    for key in ("/CropBox", "/MediaBox"):
        current = node
        while current is not None:
            if key in current:
                box = current[key]
                if isinstance(box, ArrayObject) or hasattr(box, "__len__"):
                    x0, y0, x1, y1 = (float(v) for v in box)
                    return Rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
            parent = current.get("/Parent")
            current = parent.get_object() if parent is not None else None
    return Rect(0, 0, 595.276, 841.89)  # A4, the size Decree 30 prescribes
