"""Where a draft leaves the number and the day and month of issue blank, read from page 1.

The blanks are found on page 1's lines as they stand on the page (signer/pagetext.py): "Số:"
followed by nothing but space up to the "/" of the notation, and "ngày", "tháng", "năm" with
nothing but space between them. Where the text shows no such blank (a scan, an unusual layout)
the blanks may be given by hand: `given_blank` and `place_issue_blanks` accept a box only where
it covers no printed character of page 1, and the verifier holds an issued document to the same
rule (signer/verification/issue_fields.py).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pdfminer.pdfdocument import PDFPasswordIncorrect
from pdfminer.psparser import PSException

from signer.errors import (
    BlankPlacementError,
    BlanksNotFoundError,
    PasswordProtectedError,
    UnreadablePdfError,
)
from signer.fields import (
    DAY_FIELD,
    DESCENT,
    MAX_FIELD_HEIGHT,
    MAX_FIELD_WIDTH,
    MONTH_FIELD,
    NUMBER_FIELD,
    WORKFLOW_FIELDS,
)
from signer.messages import PASSWORD_PROTECTED, pdf_error_message
from signer.pagetext import PageLine, PageText, read_page_text

# Room left on each side of a blank so the number never touches the printed text.
PADDING = 1.5
# A blank given by hand must hold a legible number; its type size when it is tall enough.
MIN_GIVEN_SIZE = 6.0
GIVEN_FONT_SIZE = 13.0
# Characters a hand-placed blank may cover: spaces and the dots or rules of a printed blank
# ("ngày ..... tháng ....."), which the filled number is meant to stand on.
BLANK_FILLERS = frozenset(" \u00a0._…")

# Between the words only space, or the dots or rules a printed blank is sometimes drawn with.
_GAP = r"[\s._…]*"
_NUMBER = re.compile(rf"(?<!\w)số\s*:(?P<blank>{_GAP})(?P<slash>/)?", re.IGNORECASE)
_DATE = re.compile(
    rf"(?<!\w)ngày(?P<day>{_GAP})tháng(?P<month>{_GAP})năm(?:\s*(?P<year>[0-9]{{4}})(?![0-9]))?",
    re.IGNORECASE,
)
FIELD_LABELS = {NUMBER_FIELD: "số", DAY_FIELD: "ngày", MONTH_FIELD: "tháng"}


@dataclass(frozen=True)
class Blank:
    """A blank on a text line: its box in points (lower-left x, y, upper-right x, y), type size."""

    x1: float
    y1: float
    x2: float
    y2: float
    font_size: float

    def overlaps(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        """True when the box shares more than a hairline with the rectangle given."""
        hairline = 0.25
        return (
            min(self.x2, x1) - max(self.x1, x0) > hairline
            and min(self.y2, y1) - max(self.y1, y0) > hairline
        )


@dataclass(frozen=True)
class IssueBlanks:
    """Where the number, the day and the month go on page 1 (0-based page index).

    ``by_hand`` names the fields whose box was given by hand rather than found in the text.
    """

    page: int
    number: Blank
    day: Blank | None
    month: Blank | None
    year: int | None = None  # printed after "năm" on the date line
    by_hand: frozenset[str] = frozenset()

    def items(self) -> Iterator[tuple[str, Blank]]:
        """(field name, blank) for each blank found."""
        yield NUMBER_FIELD, self.number
        if self.day is not None:
            yield DAY_FIELD, self.day
        if self.month is not None:
            yield MONTH_FIELD, self.month


@dataclass(frozen=True)
class PageBlanks:
    """What page 1 shows: the printed blanks found (each may be missing) and the printed year."""

    number: Blank | None
    day: Blank | None
    month: Blank | None
    year: int | None
    text: PageText

    def found(self) -> dict[str, Blank]:
        """The printed blanks found, by field name."""
        blanks = {NUMBER_FIELD: self.number, DAY_FIELD: self.day, MONTH_FIELD: self.month}
        return {name: blank for name, blank in blanks.items() if blank is not None}

    def covered_text(self, blank: Blank) -> str:
        """The printed characters of page 1 under ``blank`` (spaces and dot leaders aside)."""
        covered = [
            glyph.text
            for glyph in self.text.glyphs()
            if blank.overlaps(glyph.x0, glyph.y0, glyph.x1, glyph.y1)
            and not all(ch in BLANK_FILLERS or ch.isspace() for ch in glyph.text)
        ]
        return "".join(covered)

    def on_page(self, blank: Blank) -> bool:
        """True when ``blank`` lies within the part of page 1 a viewer shows."""
        x0, y0, x1, y1 = self.text.box
        return x0 <= blank.x1 and blank.x2 <= x1 and y0 <= blank.y1 and blank.y2 <= y1


def _blank_after(line: PageLine, start: int, end: int | None) -> Blank | None:
    """The blank after the glyph at text offset ``start``, before the one at ``end``.

    Without an end the blank takes three type sizes, if the line leaves that much room.
    """
    first = line.glyph_at(start)
    size, baseline = first.size, first.baseline
    left = first.x1 + PADDING
    if end is not None:
        right = line.glyph_at(end).x0 - PADDING
    else:
        following = [g.x0 for g in line.glyphs if g.printed and g.x0 > first.x1]
        right = min([left + 3 * size, *(x - PADDING for x in following)])
    if right - left < size:  # not a blank: the words touch
        return None
    if right - left > MAX_FIELD_WIDTH:
        middle = (left + right) / 2
        left, right = middle - MAX_FIELD_WIDTH / 2, middle + MAX_FIELD_WIDTH / 2
    # The box reaches DESCENT below the baseline, so the filled number stands on the same line.
    height = min(size * 1.2, MAX_FIELD_HEIGHT)
    bottom = baseline - DESCENT * size
    return Blank(left, bottom, right, bottom + height, size)


def _number_blank(line: PageLine) -> Blank | None:
    match = _NUMBER.search(line.text)
    if match is None:
        return None
    colon = match.start("blank") - 1
    slash = match.start("slash") if match.group("slash") else None
    if slash is None and match.end("blank") < len(line.text):
        following = line.glyph_at(match.end("blank"))
        if following.x0 - line.glyph_at(colon).x1 < 3 * following.size:
            return None  # "Số: 12/…": the number is printed already
    return _blank_after(line, colon, slash)


def _date_blanks(line: PageLine) -> tuple[Blank | None, Blank | None, int | None] | None:
    match = _DATE.search(line.text)
    if match is None:
        return None
    year = match.group("year")
    return (
        _blank_after(line, match.start("day") - 1, match.end("day")),
        _blank_after(line, match.start("month") - 1, match.end("month")),
        int(year) if year else None,
    )


def read_page_blanks(pdf: bytes) -> PageBlanks:
    """The printed blanks of page 1, each None where the text shows none."""
    try:
        text = read_page_text(io.BytesIO(pdf), 0)
    except PDFPasswordIncorrect:
        raise PasswordProtectedError(PASSWORD_PROTECTED) from None
    except (PSException, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise UnreadablePdfError(pdf_error_message(error, "trang 1 của văn bản")) from None
    except RecursionError:
        raise UnreadablePdfError("tệp PDF lồng quá sâu, không đọc được trang 1") from None
    if text is None:
        raise UnreadablePdfError("văn bản không có trang nào")
    number: Blank | None = None
    dates: tuple[Blank | None, Blank | None, int | None] | None = None
    for line in text.lines:  # top to bottom: the heading's lines come first
        number = number or _number_blank(line)
        dates = dates or _date_blanks(line)
    day, month, year = dates if dates is not None else (None, None, None)
    return PageBlanks(number, day, month, year, text)


NOT_FOUND = (
    'không tìm thấy dòng "Số:   /…" để trống số trên trang 1 của văn bản '
    "(văn bản quét thành ảnh hoặc bố cục khác thể thức Nghị định 30/2020); "
    "hãy chỉ rõ vị trí các ô số, ngày, tháng trên trang 1: x, y, rộng, cao, "
    "đơn vị point (1/72 inch, 1 mm ≈ 2,83 point), tính từ góc dưới bên trái trang"
)


def find_issue_blanks(pdf: bytes) -> IssueBlanks:
    """Find the number blank ("Số:   /…") and the day and month blanks on page 1."""
    page = read_page_blanks(pdf)
    if page.number is None:
        raise BlanksNotFoundError(NOT_FOUND)
    return IssueBlanks(page=0, number=page.number, day=page.day, month=page.month, year=page.year)


def given_blank(x: float, y: float, width: float, height: float) -> Blank:
    """A blank given by hand: lower-left corner and size in points, on page 1."""
    size = min(GIVEN_FONT_SIZE, height / 1.2)
    return Blank(x, y, x + width, y + height, size)


BOX_FORMAT = (
    "x,y,rộng,cao: bốn số đo bằng point (1/72 inch), dấu chấm thập phân, tính từ góc dưới "
    "bên trái trang 1, ví dụ 129.6,697.5,23,15.6"
)


def parse_box(text: str) -> Blank:
    """A blank given as "x,y,width,height" in points; ValueError (in Vietnamese) otherwise."""
    parts = [part.strip() for part in text.split(",")]
    try:
        x, y, width, height = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"vị trí ô viết theo dạng {BOX_FORMAT}") from None
    if not all(math.isfinite(v) for v in (x, y, width, height)) or width <= 0 or height <= 0:
        raise ValueError(f"vị trí ô viết theo dạng {BOX_FORMAT}; rộng và cao phải lớn hơn 0")
    return given_blank(x, y, width, height)


def _problem(page: PageBlanks, name: str, blank: Blank) -> str | None:
    """Why a hand-placed ``blank`` for field ``name`` cannot be used, in Vietnamese; or None."""
    width, height = blank.x2 - blank.x1, blank.y2 - blank.y1
    if not (
        MIN_GIVEN_SIZE <= width <= MAX_FIELD_WIDTH and MIN_GIVEN_SIZE <= height <= MAX_FIELD_HEIGHT
    ):
        return (
            f"ô rộng {MIN_GIVEN_SIZE:g} đến {MAX_FIELD_WIDTH:g} point, "
            f"cao {MIN_GIVEN_SIZE:g} đến {MAX_FIELD_HEIGHT:g} point"
        )
    if not page.on_page(blank):
        return "ô nằm ngoài trang 1"
    covered = page.covered_text(blank)
    if covered:
        return f'ô đè lên chữ in sẵn "{covered[:40]}": số và ngày chỉ được điền vào chỗ trống'
    printed = page.found().get(name)
    if printed is not None and printed != blank:
        return (
            "trang 1 đã có chỗ trống in sẵn cho ô này, tại "
            f"{printed.x1:.1f}, {printed.y1:.1f} (rộng {printed.x2 - printed.x1:.1f}, "
            f"cao {printed.y2 - printed.y1:.1f}): bỏ vị trí nhập tay để dùng chỗ trống đó"
        )
    return None


def place_issue_blanks(pdf: bytes, given: Mapping[str, Blank]) -> IssueBlanks:
    """The blanks of page 1: those ``given`` by hand (checked), the others found in the text."""
    unknown = set(given) - set(WORKFLOW_FIELDS)
    if unknown:
        raise ValueError(f"unknown workflow fields: {sorted(unknown)}")
    page = read_page_blanks(pdf)
    for name, blank in given.items():
        problem = _problem(page, name, blank)
        if problem is not None:
            raise BlankPlacementError(
                f"vị trí ô {FIELD_LABELS[name]} không dùng được: {problem}", name
            )
    found = page.found()
    number = given.get(NUMBER_FIELD, found.get(NUMBER_FIELD))
    if number is None:
        raise BlanksNotFoundError(NOT_FOUND)
    placed = [name for name, blank in given.items() if found.get(name) != blank]
    return IssueBlanks(
        page=0,
        number=number,
        day=given.get(DAY_FIELD, found.get(DAY_FIELD)),
        month=given.get(MONTH_FIELD, found.get(MONTH_FIELD)),
        year=page.year,
        by_hand=frozenset(placed),
    )


def hand_placed_problem(page: PageBlanks, blank: Blank) -> str | None:
    """Why a filled field without a printed blank is not where a hand-placed blank may be.

    In English, for the verification report. The fill may print digits on page 1 only where
    nothing printed is: within the page, on no printed character (scans with a text layer
    included), at a size the workflow allows.
    """
    width, height = blank.x2 - blank.x1, blank.y2 - blank.y1
    if not (0 < width <= MAX_FIELD_WIDTH and 0 < height <= MAX_FIELD_HEIGHT):
        return "is larger than a blank"
    if not page.on_page(blank):
        return "lies outside page 1"
    if page.covered_text(blank):
        return "covers printed text of page 1"
    return None
