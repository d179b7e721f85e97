# mypy: disable-error-code="no-untyped-call"
"""A page's text as it stands on the page: characters grouped by baseline, ordered by x.

pdfminer's layout analysis joins characters into lines in the order the producer wrote them, so a
glyph written in a run of its own (LibreOffice falling back to another font for a Vietnamese
letter with stacked marks, justified text written piecewise, a word written back to front) lands
in a line of its own or out of place. Here each character is placed by its position alone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LTChar, LTContainer, LTItem, LTPage
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage

__all__ = ["Glyph", "PageLine", "PageText", "read_page_text"]

# Characters whose baselines differ by less than this fraction of their type size share a line
# (two columns set in one table row sit within a fraction of a point of each other).
BASELINE_TOLERANCE = 0.3
# A combining mark written on its own may be raised or lowered by the producer's positioning.
MARK_TOLERANCE = 0.6
# A gap wider than this fraction of the type size between two characters is a word space.
WORD_GAP = 0.15
# A gap wider than this many type sizes separates two columns (pdfminer's char_margin).
COLUMN_GAP = 2.0
# The same glyph drawn twice at (nearly) the same place is fake bold or a shadow: read once.
DUPLICATE_OFFSET = 0.1


@dataclass(frozen=True)
class Glyph:
    """One character on the page (NFC, combining marks joined) and its box, in points.

    ``printed`` is False for a word space inferred from a gap: nothing is drawn there.
    """

    text: str
    x0: float
    x1: float
    y0: float
    y1: float
    size: float
    baseline: float
    printed: bool = True


@dataclass(frozen=True)
class PageLine:
    """The glyphs standing on one baseline, left to right, with word spaces where gaps are."""

    glyphs: tuple[Glyph, ...]
    text: str
    owners: tuple[int, ...]  # for each character of ``text``, the index of its glyph

    @classmethod
    def of(cls, glyphs: Iterable[Glyph]) -> PageLine:
        """The line of these glyphs (already in x order)."""
        glyphs = tuple(glyphs)
        owners = tuple(index for index, glyph in enumerate(glyphs) for _ in glyph.text)
        return cls(glyphs, "".join(glyph.text for glyph in glyphs), owners)

    def glyph_at(self, offset: int) -> Glyph:
        """The glyph that the character at ``offset`` of ``text`` belongs to."""
        return self.glyphs[self.owners[offset]]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the drawn glyphs."""
        drawn = [g for g in self.glyphs if g.printed] or list(self.glyphs)
        return (
            min(g.x0 for g in drawn),
            min(g.y0 for g in drawn),
            max(g.x1 for g in drawn),
            max(g.y1 for g in drawn),
        )

    def segments(self) -> list[PageLine]:
        """The parts of the line separated by column-wide gaps, left to right."""
        parts: list[list[Glyph]] = [[]]
        last: Glyph | None = None
        for glyph in self.glyphs:
            if not glyph.printed:
                if parts[-1]:
                    parts[-1].append(glyph)
                continue
            if last is not None and glyph.x0 - last.x1 > COLUMN_GAP * max(glyph.size, last.size):
                while parts[-1] and not parts[-1][-1].printed:
                    parts[-1].pop()  # the inferred space before the gap belongs to neither
                parts.append([])
            parts[-1].append(glyph)
            last = glyph
        return [PageLine.of(part) for part in parts if part]


@dataclass(frozen=True)
class PageText:
    """The text lines of a page from top to bottom, its box and every drawn character."""

    lines: tuple[PageLine, ...]
    width: float
    height: float
    box: tuple[float, float, float, float]  # the crop box: what a viewer shows

    def glyphs(self) -> Iterator[Glyph]:
        """Every drawn character of the page."""
        for line in self.lines:
            yield from (glyph for glyph in line.glyphs if glyph.printed)


def _characters(container: Iterable[LTItem]) -> Iterator[LTChar]:
    for item in container:
        if isinstance(item, LTChar):
            yield item
        elif isinstance(item, LTContainer):  # text inside form XObjects (figures) too
            yield from _characters(item)


def _is_mark(text: str) -> bool:
    return bool(text) and all(unicodedata.combining(ch) for ch in text)


def _glyph(char: LTChar) -> Glyph:
    baseline = float(char.matrix[5])  # the text origin's y: where the glyphs stand
    text = unicodedata.normalize("NFC", char.get_text())
    return Glyph(text, char.x0, char.x1, char.y0, char.y1, char.size, baseline)


def _join(base: Glyph, mark: Glyph) -> Glyph:
    return Glyph(
        unicodedata.normalize("NFC", base.text + mark.text),
        base.x0,
        max(base.x1, mark.x1),
        min(base.y0, mark.y0),
        max(base.y1, mark.y1),
        base.size,
        base.baseline,
    )


def _ordered(bases: list[Glyph], marks: list[Glyph]) -> list[Glyph]:
    """One line's glyphs left to right, each combining mark joined to the letter it sits on."""
    ordered: list[Glyph] = []
    for glyph in sorted(bases, key=lambda g: g.x0):  # stable: ties keep the written order
        previous = ordered[-1] if ordered else None
        if (
            previous is not None
            and previous.text == glyph.text
            and abs(previous.x0 - glyph.x0) < DUPLICATE_OFFSET * glyph.size
        ):
            continue
        ordered.append(glyph)
    for mark in marks:  # in the written order: stacked marks compose in that order
        centre = (mark.x0 + mark.x1) / 2
        # A zero-width mark stands at its letter's right edge, where the next letter starts.
        owner = max((i for i, g in enumerate(ordered) if g.x0 < centre), default=None)
        if owner is None:
            ordered.insert(0, mark)
        else:
            ordered[owner] = _join(ordered[owner], mark)
    return ordered


def _with_spaces(glyphs: list[Glyph]) -> list[Glyph]:
    out: list[Glyph] = []
    for glyph in glyphs:
        previous = out[-1] if out else None
        if (
            previous is not None
            and not previous.text.isspace()
            and not glyph.text.isspace()
            and glyph.x0 - previous.x1 > WORD_GAP * max(glyph.size, previous.size)
        ):
            out.append(
                Glyph(
                    " ",
                    previous.x1,
                    glyph.x0,
                    min(previous.y0, glyph.y0),
                    max(previous.y1, glyph.y1),
                    max(previous.size, glyph.size),
                    previous.baseline,
                    printed=False,
                )
            )
        out.append(glyph)
    return out


def group_lines(chars: Iterable[Glyph]) -> list[PageLine]:
    """Glyphs grouped by baseline (top line first), each line ordered by x."""
    glyphs = [g for g in chars if g.text and g.size > 0]
    bases = sorted((g for g in glyphs if not _is_mark(g.text)), key=lambda g: -g.baseline)
    rows: list[list[Glyph]] = []
    for glyph in bases:
        if rows:
            first = rows[-1][0]
            if first.baseline - glyph.baseline <= BASELINE_TOLERANCE * max(first.size, glyph.size):
                rows[-1].append(glyph)
                continue
        rows.append([glyph])
    marks: list[list[Glyph]] = [[] for _ in rows]
    for mark in (g for g in glyphs if _is_mark(g.text)):
        distances = [(abs(row[0].baseline - mark.baseline), i) for i, row in enumerate(rows)]
        nearest = min(distances, default=None)
        if nearest is not None and nearest[0] <= MARK_TOLERANCE * mark.size:
            marks[nearest[1]].append(mark)
        else:
            rows.append([mark])  # a mark alone: keep it, as a line of its own
            marks.append([])
    lines = [
        PageLine.of(_with_spaces(_ordered(row, extra)))
        for row, extra in zip(rows, marks, strict=True)
    ]
    return sorted(lines, key=lambda line: -line.glyphs[0].baseline)


def read_page_text(stream: BinaryIO, index: int) -> PageText | None:
    """The text of page ``index`` (0-based), None when the document has no such page."""
    stream.seek(0)
    page = next(PDFPage.get_pages(stream, pagenos=[index], password=""), None)
    if page is None:
        return None
    manager = PDFResourceManager()
    device = PDFPageAggregator(manager, laparams=None)  # no layout analysis: positions only
    PDFPageInterpreter(manager, device).process_page(page)
    result: LTPage = device.get_result()
    x0, y0, x1, y1 = (float(v) for v in page.cropbox)
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    glyphs = (_glyph(char) for char in _characters(result) if char.upright)
    return PageText(tuple(group_lines(glyphs)), result.width, result.height, box)
