"""Where the issue's filled number and date may sit: on the blanks of the printed text."""

from __future__ import annotations

from typing import BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.errors import IssueError, UnreadablePdfError
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
    from signer.issuing.blanks import find_issue_blanks

    page = reader.find_page_for_modification(0)[0].get_object()  # type: ignore[no-untyped-call]
    # Indexing dereferences an indirect /Annots array; .get() would not.
    annots = page["/Annots"] if "/Annots" in page else ()  # noqa: SIM401
    on_page = {ref.reference for ref in annots if isinstance(ref, generic.IndirectObject)}
    stream.seek(0)
    try:
        blanks = dict(find_issue_blanks(stream.read(size)).items())
    except (IssueError, UnreadablePdfError):
        return "the issue's number and date are filled in, but page 1 has no blanks for them"
    for name, (ref, rect) in filled.items():
        blank = blanks.get(name)
        expected = (blank.x1, blank.y1, blank.x2, blank.y2) if blank is not None else None
        if (
            ref not in on_page
            or expected is None
            or any(abs(a - b) > TOLERANCE for a, b in zip(rect, expected, strict=True))
        ):
            return f"the issue field {name} is not on its blank of the signed text on page 1"
    return None
