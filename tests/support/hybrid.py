"""Hybrid-reference PDFs as Microsoft Word and Excel write them, made from a classic-xref PDF.

Office's "Save as PDF" writes two sections (ISO 32000-1, 7.5.8.4):

1. the body and a classic cross-reference table in which every object kept in an object stream
   (the structure tree, mostly), each object stream and the companion cross-reference stream are
   free placeholders (``0000000000 65535 f``), so a reader that predates PDF 1.5 skips them;
2. an empty update (``xref 0 0``) whose trailer has ``/Prev`` and ``/XRefStm``: the offset of the
   companion cross-reference stream, written before the first table, which lists the hidden
   objects (type 2 entries) and their object stream (type 1 entry).

A reader without cross-reference streams sees the document without its structure tree; a modern
reader sees everything. ``make_hybrid`` builds such a file from a one-revision classic-xref PDF
(adding a small structure tree to hide, as Word's tagging would). Its ``shadow`` variants make the
two views disagree on what the page shows, as a shadow attack would:

- ``"redeclared"``: the companion stream lists page 1's content stream again, at another offset
  holding other text; the classic table keeps the original.
- ``"hidden-content"``: page 1 gets a second content stream that only the companion stream lists
  (free in the classic table): legacy readers print the page without it.

Nothing here uses congvan's signer: the bytes are written by hand with pyHanko's generic objects.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = ["FORGED_TEXT", "Shadow", "make_hybrid"]

Shadow = Literal["redeclared", "hidden-content"]
# What the shadow variants print on page 1 for a modern reader only.
FORGED_TEXT = b"BT /F1 28 Tf 72 420 Td (HUY BO - KHONG CO HIEU LUC) Tj ET"
_FORGED_CONTENT = b"q 1 1 1 rg 60 400 470 60 re f Q " + FORGED_TEXT


@dataclass
class _Body:
    """The bytes written so far and where each top-level object starts."""

    out: bytearray
    offsets: dict[int, int]

    def write(self, idnum: int, obj: generic.PdfObject) -> int:
        at = len(self.out)
        self.offsets[idnum] = at
        buffer = io.BytesIO()
        obj.write_to_stream(buffer, None, generic.Reference(idnum, 0))
        self.out += b"%d 0 obj\n" % idnum + buffer.getvalue() + b"\nendobj\n"
        return at


def _serialise(obj: generic.PdfObject) -> bytes:
    buffer = io.BytesIO()
    obj.write_to_stream(buffer, None, None)
    return buffer.getvalue()


def _object_stream(members: dict[int, generic.PdfObject]) -> generic.StreamObject:
    """An /ObjStm holding ``members`` (non-stream objects), in the order given."""
    header, body = [], bytearray()
    for idnum, obj in members.items():
        header.append(b"%d %d" % (idnum, len(body)))
        body += _serialise(obj) + b"\n"
    head = b" ".join(header) + b"\n"
    stream = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/ObjStm"),
            pdf_name("/N"): generic.NumberObject(len(members)),
            pdf_name("/First"): generic.NumberObject(len(head)),
        },
        stream_data=head + bytes(body),
    )
    stream.compress()
    return stream


def _xref_stream(entries: dict[int, tuple[int, int, int]], size: int) -> generic.StreamObject:
    """A cross-reference stream (/W [1 4 2]) listing exactly ``entries``: type, field 2, field 3."""
    numbers = sorted(entries)
    index: list[int] = []
    for number in numbers:
        if index and index[-2] + index[-1] == number:
            index[-1] += 1
        else:
            index += [number, 1]
    rows = b"".join(struct.pack(">BIH", *entries[number]) for number in numbers)
    stream = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XRef"),
            pdf_name("/Size"): generic.NumberObject(size),
            pdf_name("/W"): generic.ArrayObject(generic.NumberObject(w) for w in (1, 4, 2)),
            pdf_name("/Index"): generic.ArrayObject(generic.NumberObject(n) for n in index),
            pdf_name("/Filter"): pdf_name("/FlateDecode"),
        },
        encoded_data=zlib.compress(rows),
    )
    return stream


def _classic_table(size: int, offsets: dict[int, int]) -> bytes:
    """One subsection 0..size-1: listed objects in use, every other number a linked free entry."""
    free = [n for n in range(1, size) if n not in offsets]
    following = dict(zip([0, *free], [*free, 0], strict=True))
    lines = [b"xref\n0 %d\n" % size]
    for number in range(size):
        if number in offsets:
            lines.append(b"%010d 00000 n \n" % offsets[number])
        else:
            lines.append(b"%010d 65535 f \n" % following[number])
    return b"".join(lines)


def _trailer(reader: PdfFileReader, size: int, extra: bytes = b"") -> bytes:
    trailer = reader.trailer
    parts = [b"/Size %d" % size]
    for key in ("/Root", "/Info", "/ID"):
        if key in trailer:
            parts.append(key.encode() + b" " + _serialise(trailer.raw_get(key)))
    return b"trailer\n<< " + b" ".join(parts) + extra + b" >>\n"


def make_hybrid(pdf: bytes, *, shadow: Shadow | None = None) -> bytes:
    """The one-revision classic-xref ``pdf`` rewritten as Office writes a hybrid-reference file."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if reader.xrefs.total_revisions != 1 or reader.has_xref_stream:
        raise ValueError("make_hybrid needs a one-revision PDF with a classic xref table")
    section = reader.xrefs.get_xref_data(0)
    if section.xrefs_in_objstm:
        raise ValueError("make_hybrid needs a PDF without object streams")
    objects: dict[int, generic.PdfObject] = {
        idnum: reader.get_object(generic.Reference(idnum, generation))
        for idnum, (generation, _) in sorted(section.standard_xrefs.items())
    }

    root_ref = reader.trailer.raw_get("/Root").reference
    page_ref = reader.root["/Pages"]["/Kids"].raw_get(0).reference
    size = int(reader.trailer["/Size"])
    tree_root, tree_element, planted, objstm, xrefstm = range(size, size + 5)
    new_size = xrefstm + 1

    # The structure tree Word's tagging would write; it lives in the object stream only.
    catalog = generic.DictionaryObject(objects[root_ref.idnum])
    catalog[pdf_name("/StructTreeRoot")] = generic.IndirectObject(tree_root, 0, reader)
    catalog[pdf_name("/MarkInfo")] = generic.DictionaryObject(
        {pdf_name("/Marked"): generic.BooleanObject(True)}
    )
    objects[root_ref.idnum] = catalog
    hidden: dict[int, generic.PdfObject] = {
        tree_root: generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/StructTreeRoot"),
                pdf_name("/K"): generic.IndirectObject(tree_element, 0, reader),
            }
        ),
        tree_element: generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/StructElem"),
                pdf_name("/S"): pdf_name("/Document"),
                pdf_name("/P"): generic.IndirectObject(tree_root, 0, reader),
                pdf_name("/Pg"): generic.IndirectObject(page_ref.idnum, 0, reader),
            }
        ),
    }

    page = objects[page_ref.idnum]
    assert isinstance(page, generic.DictionaryObject)
    forged = generic.StreamObject(stream_data=_FORGED_CONTENT)
    planted_as = planted
    if shadow == "hidden-content":
        page = generic.DictionaryObject(page)
        page[pdf_name("/Contents")] = generic.ArrayObject(
            [*_contents(page), generic.IndirectObject(planted, 0, reader)]
        )
        objects[page_ref.idnum] = page
    elif shadow == "redeclared":
        first = _contents(page)[0]
        planted_as = first.idnum  # a second definition of the page's own content stream

    body = _Body(bytearray(pdf[: pdf.index(b"\n") + 1] + b"%\xe2\xe3\xcf\xd3\n"), {})
    for idnum, obj in objects.items():
        body.write(idnum, obj)
    classic = dict(body.offsets)
    companion: dict[int, tuple[int, int, int]] = {}
    if shadow is not None:
        companion[planted_as] = (1, body.write(planted_as, forged), 0)
    companion[objstm] = (1, body.write(objstm, _object_stream(hidden)), 0)
    for index, idnum in enumerate(hidden):
        companion[idnum] = (2, objstm, index)
    # Like Office's, the companion stream does not list itself; its /Size stops short of it.
    xrefstm_at = body.write(xrefstm, _xref_stream(companion, xrefstm))

    out = body.out
    table_at = len(out)
    out += _classic_table(new_size, classic)
    out += _trailer(reader, new_size)
    out += b"startxref\n%d\n%%%%EOF\n" % table_at
    update_at = len(out)
    out += b"xref\n0 0\n"
    out += _trailer(reader, new_size, b" /Prev %d /XRefStm %d" % (table_at, xrefstm_at))
    out += b"startxref\n%d\n%%%%EOF\n" % update_at
    return bytes(out)


def _contents(page: generic.DictionaryObject) -> list[generic.IndirectObject]:
    contents = page.raw_get("/Contents")
    if isinstance(contents, generic.IndirectObject) and isinstance(
        contents.get_object(), generic.ArrayObject
    ):
        contents = contents.get_object()
    if isinstance(contents, generic.ArrayObject):
        return list(contents)
    return [contents]
