# mypy: disable-error-code="no-untyped-call"
"""Where a draft leaves the number and the day and month of issue blank, read from page 1."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTTextContainer, LTTextLine
from pdfminer.psparser import PSException

from signer.errors import IssueError, UnreadablePdfError
from signer.fields import (
    DAY_FIELD,
    DESCENT,
    MAX_FIELD_HEIGHT,
    MAX_FIELD_WIDTH,
    MONTH_FIELD,
    NUMBER_FIELD,
)

# Room left on each side of a blank so the number never touches the printed text.
PADDING = 1.5


@dataclass(frozen=True)
class Blank:
    """A blank on a text line: its box in points (lower-left x, y, upper-right x, y), type size."""

    x1: float
    y1: float
    x2: float
    y2: float
    font_size: float


@dataclass(frozen=True)
class IssueBlanks:
    """Where the number, the day and the month go on page 1 (0-based page index)."""

    page: int
    number: Blank
    day: Blank | None
    month: Blank | None
    year: int | None = None  # printed after "năm" on the date line

    def items(self) -> Iterator[tuple[str, Blank]]:
        """(field name, blank) for each blank found."""
        yield NUMBER_FIELD, self.number
        if self.day is not None:
            yield DAY_FIELD, self.day
        if self.month is not None:
            yield MONTH_FIELD, self.month


def _clusters(line: LTTextLine) -> list[tuple[str, float, float, float, float]]:
    """The line's characters as (NFC text, x0, x1, size, baseline), combining marks joined."""
    out: list[tuple[str, float, float, float, float]] = []
    for item in line:
        if not isinstance(item, LTChar):
            continue
        text = item.get_text()
        if out and text and all(unicodedata.combining(ch) for ch in text):
            previous, x0, x1, size, baseline = out[-1]
            joined = unicodedata.normalize("NFC", previous + text)
            out[-1] = (joined, x0, max(x1, item.x1), size, baseline)
        else:
            baseline = float(item.matrix[5])  # the text origin's y: where the glyphs stand
            out.append((unicodedata.normalize("NFC", text), item.x0, item.x1, item.size, baseline))
    return out


def _blank_between(
    chars: list[tuple[str, float, float, float, float]], start: int, end: int | None
) -> Blank | None:
    """The blank after character ``start`` and before character ``end`` (or a default width)."""
    size, baseline = chars[start][3], chars[start][4]
    left = chars[start][2] + PADDING
    right = chars[end][1] - PADDING if end is not None else left + 3 * size
    if right - left < size:  # not a blank: the words touch
        return None
    if right - left > MAX_FIELD_WIDTH:
        middle = (left + right) / 2
        left, right = middle - MAX_FIELD_WIDTH / 2, middle + MAX_FIELD_WIDTH / 2
    # The box reaches DESCENT below the baseline, so the filled number stands on the same line.
    height = min(size * 1.2, MAX_FIELD_HEIGHT)
    bottom = baseline - DESCENT * size
    return Blank(left, bottom, right, bottom + height, size)


def _number_blank(line: LTTextLine) -> Blank | None:
    chars = _clusters(line)
    text = "".join(c[0] for c in chars)
    if not text.lstrip().lower().startswith("số"):
        return None
    colon = text.find(":")
    if colon < 0:
        return None
    slash = text.find("/", colon)
    return _blank_between(chars, colon, slash if slash >= 0 else None)


def _date_blanks(
    line: LTTextLine,
) -> tuple[Blank | None, Blank | None, int | None] | None:
    chars = _clusters(line)
    text = "".join(c[0] for c in chars).lower()
    day = text.find("ngày")
    month = text.find("tháng", day + 1)
    year = text.find("năm", month + 1)
    if day < 0 or month < 0 or year < 0:
        return None
    printed = re.match(r"\s*([0-9]{4})", text[year + len("năm") :])
    return (
        _blank_between(chars, day + len("ngày") - 1, month),
        _blank_between(chars, month + len("tháng") - 1, year),
        int(printed.group(1)) if printed else None,
    )


def _lines_of_first_page(stream: io.BytesIO) -> Iterator[LTTextLine]:
    page = next(extract_pages(stream, page_numbers=[0], laparams=LAParams()), None)
    if page is None:
        raise UnreadablePdfError("văn bản không có trang nào")
    for element in page:
        if isinstance(element, LTTextContainer):
            yield from (line for line in element if isinstance(line, LTTextLine))


def find_issue_blanks(pdf: bytes) -> IssueBlanks:
    """Find the number blank ("Số:   /…") and the day and month blanks on page 1."""
    stream = io.BytesIO(pdf)
    number: Blank | None = None
    dates: tuple[Blank | None, Blank | None, int | None] | None = None
    try:
        for line in _lines_of_first_page(stream):
            number = number or _number_blank(line)
            dates = dates or _date_blanks(line)
    except (PSException, ValueError, KeyError, TypeError, RecursionError) as error:
        raise UnreadablePdfError(f"không đọc được trang 1 của văn bản: {error}") from None
    if number is None:
        raise IssueError('không tìm thấy dòng "Số:   /…" để trống số trên trang 1 của văn bản')
    day, month, year = dates if dates is not None else (None, None, None)
    return IssueBlanks(page=0, number=number, day=day, month=month, year=year)
