"""Where a Decree 30 document keeps its number line, date line and signer block, read from its text.

pyHanko has no text extraction, so the characters and their boxes come from pdfminer.six (pure
Python, MIT), grouped into lines by their position on the page (signer/pagetext.py): only page 1
and the pages at the end that hold the signer block are interpreted. A line is one column's part
of a baseline: two columns on one baseline ("Nơi nhận:" and "TM. ỦY BAN NHÂN DÂN") are two lines.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.psparser import PSException

from signer.errors import UnreadablePdfError
from signer.messages import file_error_message, pdf_error_message
from signer.pagetext import PageText, read_page_text

__all__ = ["DocumentLayout", "Rect", "TextLine", "find_layout"]

# The signature goes into the blank between title and name: Decree 30 layouts leave 3-6 lines
# (about 40-110 pt at 13-14 pt type); smaller gaps are line spacing, larger ones other content.
MIN_SIGNATURE_GAP = 30.0
MAX_SIGNATURE_GAP = 220.0
# Lines of one title block ("TM. ỦY BAN NHÂN DÂN" / "KT. CHỦ TỊCH" / "PHÓ CHỦ TỊCH") follow
# each other with well under one line of space between them.
MAX_TITLE_LEADING = 10.0
# The signer block sits in the right column; body text starts near the left margin.
RIGHT_COLUMN_START = 0.45
PAGES_FROM_END = 3
_DATE = re.compile(r"\bngày\b.*\btháng\b.*\bnăm\b", re.IGNORECASE)
_NUMBER = re.compile(r"^Số\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Rect:
    """A rectangle in PDF user space: lower-left corner, width and height, in points."""

    x: float
    y: float
    width: float
    height: float

    @property
    def top(self) -> float:
        """Upper edge."""
        return self.y + self.height

    @property
    def right(self) -> float:
        """Right edge."""
        return self.x + self.width

    @property
    def center_x(self) -> float:
        """Horizontal centre."""
        return self.x + self.width / 2

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Rect(x, y, max(self.right, other.right) - x, max(self.top, other.top) - y)


@dataclass(frozen=True)
class TextLine:
    """One line of text on a page (0-based page index) and its box."""

    page: int
    text: str
    rect: Rect


@dataclass(frozen=True)
class DocumentLayout:
    """The places a signature, number or date belongs, each absent when not found.

    ``title`` is the last line of the signer's title block (the one just above the blank left
    for the signature), ``signer_block`` spans the whole title block down to the name line.
    """

    page_count: int
    signer_page: int | None = None
    signer_block: Rect | None = None
    title: TextLine | None = None
    name: TextLine | None = None
    number: TextLine | None = None
    date: TextLine | None = None

    @property
    def signature_gap(self) -> Rect | None:
        """The blank between the title line and the name line, across the signer block."""
        if self.title is None or self.name is None or self.signer_block is None:
            return None
        bottom, top = self.name.rect.top, self.title.rect.y
        return Rect(self.signer_block.x, bottom, self.signer_block.width, top - bottom)


def _lines(page: PageText, index: int) -> Iterator[TextLine]:
    """The page's lines top to bottom, each column's part of a baseline on its own."""
    for line in page.lines:
        for segment in line.segments():
            text = segment.text.strip()
            if text:
                x0, y0, x1, y1 = segment.box
                yield TextLine(index, text, Rect(x0, y0, x1 - x0, y1 - y0))


def _page(stream: BinaryIO, index: int) -> PageText:
    page = read_page_text(stream, index)
    if page is None:
        raise UnreadablePdfError(f"văn bản không có trang {index + 1}")
    return page


def _is_title(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(ch.isupper() for ch in letters)


def _is_name(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 6 and all(w[0].isupper() for w in words) and not _is_title(text)


def _signer_block(
    lines: list[TextLine], page_width: float
) -> tuple[TextLine, TextLine, Rect] | None:
    """The lowest name line with a title block above a signature-sized gap, in the right column."""
    right = sorted(
        (ln for ln in lines if ln.rect.x >= page_width * RIGHT_COLUMN_START),
        key=lambda ln: -ln.rect.top,
    )
    found = None
    for above, below in itertools.pairwise(right):
        gap = above.rect.y - below.rect.top
        if (
            MIN_SIGNATURE_GAP <= gap <= MAX_SIGNATURE_GAP
            and _is_title(above.text)
            and _is_name(below.text)
        ):
            found = (above, below)
    if found is None:
        return None
    title, name = found
    block = title.rect.union(name.rect)
    position = right.index(title)
    for index in range(position - 1, -1, -1):
        earlier, later = right[index], right[index + 1]
        if earlier.rect.y - later.rect.top > MAX_TITLE_LEADING or not _is_title(earlier.text):
            break
        block = block.union(earlier.rect)
    return title, name, block


def _page_count(stream: BinaryIO) -> int:
    document = PDFDocument(PDFParser(stream))
    return sum(1 for _ in PDFPage.create_pages(document))


def _scan(stream: BinaryIO, page_count: int) -> DocumentLayout:
    if page_count == 0:
        return DocumentLayout(page_count=0)
    first = _page(stream, 0)
    first_lines = list(_lines(first, 0))
    number = next((ln for ln in first_lines if _NUMBER.match(ln.text)), None)
    date = next((ln for ln in first_lines if _DATE.search(ln.text)), None)
    layout = DocumentLayout(page_count=page_count, number=number, date=date)
    # The signer block is at the end: look from the last page back.
    for index in range(page_count - 1, max(-1, page_count - 1 - PAGES_FROM_END), -1):
        if index == 0:
            page, lines = first, first_lines
        else:
            page = _page(stream, index)
            lines = list(_lines(page, index))
        block = _signer_block(lines, page.width)
        if block is not None:
            title, name, rect = block
            return DocumentLayout(
                page_count=page_count,
                signer_page=index,
                signer_block=rect,
                title=title,
                name=name,
                number=number,
                date=date,
            )
    return layout


def find_layout(pdf: str | os.PathLike[str] | bytes | BinaryIO) -> DocumentLayout:
    """Find the signer block, the "Số:" line and the date line of a document."""
    if isinstance(pdf, bytes):
        stream: BinaryIO = io.BytesIO(pdf)
    elif isinstance(pdf, str | os.PathLike):
        try:
            with open(pdf, "rb") as handle:
                stream = io.BytesIO(handle.read())
        except OSError as error:
            raise UnreadablePdfError(file_error_message(error, os.fspath(pdf))) from None
    else:
        stream = pdf
    start = stream.tell()
    try:
        stream.seek(0)
        count = _page_count(stream)
        stream.seek(0)
        return _scan(stream, count)
    except (PSException, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise UnreadablePdfError(
            pdf_error_message(error, "nội dung văn bản để tìm vị trí ký")
        ) from None
    except RecursionError:
        raise UnreadablePdfError("tệp PDF lồng quá sâu, không đọc được") from None
    finally:
        stream.seek(start)
