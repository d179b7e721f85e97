"""Where the issue's filled number and date may sit: on the blanks of the printed text.

A filled field must sit exactly on the blank page 1's text shows for it ("Số:   /…",
"ngày   tháng   năm"). When the text shows no blank for that field (a scan, an unusual layout:
the drafter gave its box by hand), the field must cover no printed character of page 1 and lie
within the page: the fill can then never print over text, whether born digital or a scan's text
layer. What a scan's picture shows under the box cannot be read from the file; that is accepted
because the fill paints nothing but its digits in black (signer/fields.py: no white box, nothing
hidden), the box is at most one short line in size, and prepare_draft shows a hand-placed box as
a dashed frame on the draft the official reads and signs, so the official approves where the
number and date will stand.
"""

from __future__ import annotations

from typing import BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.errors import UnreadablePdfError
from signer.fields import is_workflow_field

# prepare_draft rounds rectangles to three decimals.
TOLERANCE = 0.01


def _filled_fields(reader: PdfFileReader) -> dict[str, tuple[generic.Reference, list[float]]]:
    if "/AcroForm" not in reader.root:
        return {}
    form = reader.root["/AcroForm"]
    found: dict[str, tuple[generic.Reference, list[float]]] = {}
    # Indexing dereferences an indirect /Fields array; .get() would not.
    for ref in form["/Fields"] if "/Fields" in form else ():  # noqa: SIM401
        field = ref.get_object()
        name = str(field.get("/T", ""))
        if is_workflow_field(name) and field.get("/V"):
            found[name] = (ref.reference, [float(v) for v in field["/Rect"]])
    return found


def misplaced_issue_field(reader: PdfFileReader, stream: BinaryIO, size: int) -> str | None:
    """A problem when a filled number or date field is not exactly on its blank on page 1.

    The diff rules see only that a blank field was filled; whoever prepared the draft chose
    where that field sits. Reading the page's text again, the way prepare_draft found the
    blanks, shows whether the filled number could print over signed text.
    """
    try:
        filled = _filled_fields(reader)
    except (KeyError, TypeError, ValueError, AttributeError):
        return "the issue's number and date fields cannot be read"
    if not filled:
        return None
    from signer.issuing.blanks import Blank, hand_placed_problem, read_page_blanks

    page = reader.find_page_for_modification(0)[0].get_object()  # type: ignore[no-untyped-call]
    # Indexing dereferences an indirect /Annots array; .get() would not.
    annots = page["/Annots"] if "/Annots" in page else ()  # noqa: SIM401
    on_page = {ref.reference for ref in annots if isinstance(ref, generic.IndirectObject)}
    stream.seek(0)
    try:
        page_blanks = read_page_blanks(stream.read(size))
    except UnreadablePdfError:
        return "the issue's number and date are filled in, but page 1 cannot be read"
    printed = page_blanks.found()
    for name, (ref, rect) in filled.items():
        if ref not in on_page:
            return f"the issue field {name} is not on page 1"
        blank = printed.get(name)
        if blank is not None:
            expected = (blank.x1, blank.y1, blank.x2, blank.y2)
            if any(abs(a - b) > TOLERANCE for a, b in zip(rect, expected, strict=True)):
                return f"the issue field {name} is not on its blank of the signed text on page 1"
            continue
        x1, y1, x2, y2 = rect
        box = Blank(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2), 0.0)
        problem = hand_placed_problem(page_blanks, box)
        if problem is not None:
            return f"the issue field {name}, placed where page 1 shows no blank, {problem}"
    return None
