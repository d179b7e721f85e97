# mypy: disable-error-code="no-untyped-call"
"""The workflow's blanks as read-only text fields: added to the draft, filled at issue."""

from __future__ import annotations

from datetime import datetime

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signer.errors import IssueError
from signer.fields import (
    DAY_FIELD,
    FONT_RESOURCE,
    MONTH_FIELD,
    NUMBER_FIELD,
    WORKFLOW_FIELDS,
    filled_content,
)
from signer.issuing.blanks import Blank, IssueBlanks
from signer.vietnam_time import vietnam_date

READ_ONLY = 1  # form field flag bit 1: viewers must not let a person type into the blank
PRINT = 4  # annotation flag: printed with the page


def _acroform(writer: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    root = writer.root
    if "/AcroForm" not in root:
        root["/AcroForm"] = writer.add_object(
            generic.DictionaryObject({generic.NameObject("/Fields"): generic.ArrayObject()})
        )
        writer.update_root()
    form = root["/AcroForm"]
    if "/Fields" not in form:
        form["/Fields"] = generic.ArrayObject()
    container = root.raw_get("/AcroForm")
    if isinstance(container, generic.IndirectObject):
        writer.mark_update(container)
    else:
        writer.update_root()
    return form  # type: ignore[no-any-return]


def existing_fields(writer: IncrementalPdfFileWriter) -> dict[str, generic.DictionaryObject]:
    found: dict[str, generic.DictionaryObject] = {}
    if "/AcroForm" not in writer.root:
        return found
    form = writer.root["/AcroForm"]
    # Indexing dereferences an indirect /Fields array; .get() would not.
    for ref in form["/Fields"] if "/Fields" in form else ():  # noqa: SIM401
        field = ref.get_object()
        name = str(field.get("/T", ""))
        if name in WORKFLOW_FIELDS:
            found[name] = field
    return found


def _empty_appearance(
    writer: IncrementalPdfFileWriter, blank: Blank, framed: bool
) -> generic.IndirectObject:
    """The look of the blank before issue: nothing, or a thin grey dashed frame.

    A blank placed by hand (a scan, an unusual layout) shows its frame on the draft, so the
    official sees where the number and date will be printed before signing; the issue's fill
    replaces it with the value alone.
    """
    width, height = round(blank.x2 - blank.x1, 3), round(blank.y2 - blank.y1, 3)
    content = b""
    if framed:
        content = b"q 0.5 G 0.5 w [2 2] 0 d 0.25 0.25 %.3f %.3f re S Q" % (
            width - 0.5,
            height - 0.5,
        )
    stream = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [
                    generic.FloatObject(0),
                    generic.FloatObject(0),
                    generic.FloatObject(width),
                    generic.FloatObject(height),
                ]
            ),
        },
        stream_data=content,
    )
    return writer.add_object(stream)


def add_issue_fields(writer: IncrementalPdfFileWriter, blanks: IssueBlanks) -> None:
    """Add the blank, read-only text fields of the issue workflow to ``writer``."""
    if existing_fields(writer):
        raise IssueError("văn bản đã có các ô số và ngày ban hành")
    page_ref = writer.find_page_for_modification(blanks.page)[0]
    page = page_ref.get_object()
    form = _acroform(writer)
    annots = page.get("/Annots")
    if annots is None:
        page["/Annots"] = annots = generic.ArrayObject()
    elif isinstance(page.raw_get("/Annots"), generic.IndirectObject):
        writer.mark_update(page.raw_get("/Annots"))
    for name, blank in blanks.items():
        field = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
                generic.NameObject("/FT"): generic.NameObject("/Tx"),
                generic.NameObject("/T"): generic.TextStringObject(name),
                generic.NameObject("/Ff"): generic.NumberObject(READ_ONLY),
                generic.NameObject("/F"): generic.NumberObject(PRINT),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    generic.FloatObject(round(v, 3))
                    for v in (blank.x1, blank.y1, blank.x2, blank.y2)
                ),
                generic.NameObject("/P"): page_ref,
                generic.NameObject("/Q"): generic.NumberObject(1),  # centred
                generic.NameObject("/DA"): generic.TextStringObject(
                    f"{FONT_RESOURCE} {round(blank.font_size, 2)} Tf 0 g"
                ),
                generic.NameObject("/AP"): generic.DictionaryObject(
                    {
                        generic.NameObject("/N"): _empty_appearance(
                            writer, blank, name in blanks.by_hand
                        )
                    }
                ),
            }
        )
        ref = writer.add_object(field)
        form["/Fields"].append(ref)
        annots.append(ref)
    writer.update_container(page)


def _text_appearance(
    writer: IncrementalPdfFileWriter, field: generic.DictionaryObject, text: str
) -> generic.IndirectObject:
    from signer.appearance.resources import serif_font

    x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
    width, height = x2 - x1, y2 - y1
    content = filled_content(field["/Rect"], str(field.get("/DA", "")), text)
    stream = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [
                    generic.FloatObject(0),
                    generic.FloatObject(0),
                    generic.FloatObject(round(width, 3)),
                    generic.FloatObject(round(height, 3)),
                ]
            ),
            generic.NameObject("/Resources"): generic.DictionaryObject(
                {
                    generic.NameObject("/Font"): generic.DictionaryObject(
                        {generic.NameObject(FONT_RESOURCE): serif_font().embed(writer)}
                    )
                }
            ),
        },
        stream_data=content,
    )
    return writer.add_object(stream)


def fill_issue_fields(writer: IncrementalPdfFileWriter, number: int, issued_at: datetime) -> None:
    """Write the number and the issue day and month (Vietnam time) into the blanks."""
    fields = existing_fields(writer)
    if NUMBER_FIELD not in fields:
        raise IssueError(
            "văn bản chưa có ô số ban hành: hãy chuẩn bị dự thảo (prepare) trước khi lãnh đạo ký"
        )
    local = vietnam_date(issued_at)
    values = {
        NUMBER_FIELD: f"{number:02d}",  # Decree 30: numbers start from 01
        # Days below 10 and the months 1 and 2 take a leading zero (Decree 30, Appendix I).
        DAY_FIELD: f"{local.day:02d}",
        MONTH_FIELD: f"{local.month:02d}" if local.month <= 2 else str(local.month),
    }
    for name, field in fields.items():
        if field.get("/V"):
            raise IssueError(f"ô {name} đã được điền: văn bản đã được ban hành")
        value = values[name]
        field["/V"] = generic.TextStringObject(value)
        field["/AP"] = generic.DictionaryObject(
            {generic.NameObject("/N"): _text_appearance(writer, field, value)}
        )
        writer.update_container(field)
