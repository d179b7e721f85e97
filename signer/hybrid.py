"""Hybrid-reference files (Microsoft Word and Excel exports), accepted only where they are safe.

A hybrid-reference file (ISO 32000-1, 7.5.8.4) has classic cross-reference tables, which every
reader understands, and companion cross-reference streams named by ``/XRefStm`` in a trailer,
which only PDF 1.5+ readers follow. Office hides the objects it keeps in object streams (the
structure tree, mostly) from old readers: they are free placeholders in the classic table and live
only in the companion stream. The two views of the file can then differ, and a crafted file can
make them show different pages: a shadow attack on whoever signs or verifies with the other view.
pyHanko therefore refuses hybrid files in strict mode.

`check_hybrid` accepts a hybrid file only where both views agree on everything that is shown:

(a) no object is in use in a classic table at one place and listed by an ``/XRefStm`` stream at
    another (or free in the very table whose trailer names the stream, which readers resolve
    differently);
(b) every object a reader needs to show and fill the document (everything reachable from the
    catalog except the structure tree, metadata, outlines and other things no page shows) resolves
    through the classic tables alone, so a reader without cross-reference streams shows the same
    pages as a modern one;
(c) each ``/XRefStm`` stream lies before the table that names it, so the bytes a signature covers
    include the companion data of the revision it signs (Word writes it in the previous section,
    followed by an empty ``xref 0 0`` update).

`admit_hybrid` runs the check on a strict reader and, when it passes, lets pyHanko use that one
reader (see `_CheckedHybridXRefCache`).
"""

from __future__ import annotations

import bisect
import io
import re

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef, XRefCache, XRefSectionData, XRefSectionType

from signer.errors import UnreadablePdfError

__all__ = [
    "HYBRID_REFUSED",
    "admit_hybrid",
    "admit_hybrid_or_refuse",
    "check_hybrid",
    "is_hybrid",
    "refuse_inconsistent_hybrid",
]

HYBRID_REFUSED = (
    "tệp PDF kiểu lai (hybrid, thường do Microsoft Word/Excel xuất ra) có bảng tham chiếu chéo "
    "và luồng tham chiếu chéo /XRefStm không khớp nhau, nên mỗi phần mềm đọc có thể hiển thị "
    "một nội dung khác; không xử lý an toàn được: hãy xuất lại tệp PDF từ văn bản gốc"
)

# Keys whose values no page shows: the structure tree and what hangs off it, metadata, outlines,
# article threads, viewer settings. Everything else reachable from the catalog is followed.
_NOT_SHOWN = frozenset(
    {
        "/StructTreeRoot",
        "/StructParent",
        "/StructParents",
        "/MarkInfo",
        "/Metadata",
        "/Outlines",
        "/PieceInfo",
        "/Threads",
        "/B",
        "/SpiderInfo",
        "/ViewerPreferences",
        "/PageLabels",
        "/Lang",
    }
)
# Followed first, in this order, so a problem is named by the path a reader takes to the page.
_FIRST = ("/Pages", "/Kids", "/Contents", "/Resources", "/Annots", "/AcroForm")
# More objects than any document a clerk handles; beyond this the file is refused, not walked.
_MAX_OBJECTS = 200_000
# The fast walk holds the file in memory; larger files (scans of many pages) take the exact walk.
_MAX_FAST_WALK_BYTES = 32 * 1024 * 1024

_CONTAINERS = (generic.IndirectObject, generic.DictionaryObject, generic.ArrayObject)
# A key and the trail of its parent: the path to an object, built only when a problem names it.
_Trail = tuple[str, "_Trail | None"]

_FREE = "free"
_ABSENT = "absent"


class _CheckedHybridXRefCache(XRefCache):  # type: ignore[misc]
    """pyHanko's cross-reference cache, for a hybrid file that `check_hybrid` has accepted.

    pyHanko refuses hybrid files in strict mode in exactly two places, signing
    (`PdfSigner.init_signing_session`) and validation
    (`EmbeddedPdfSignature._enforce_hybrid_xref_policy`), both by reading
    ``reader.strict and reader.xrefs.hybrid_xrefs_present``; nothing else in pyHanko reads that
    property. Answering False for one checked reader lifts those two refusals for it alone and
    changes nothing else: the reader stays strict, and its cross-reference data, object
    resolution and every other check stay pyHanko's own.
    """

    @property
    def hybrid_xrefs_present(self) -> bool:
        return False


def is_hybrid(reader: PdfFileReader) -> bool:
    """True when some trailer of the file has /XRefStm (whether or not it was admitted)."""
    xrefs = reader.xrefs
    return any(
        xrefs.get_xref_container_info(revision).xref_section_type == XRefSectionType.HYBRID_MAIN
        for revision in range(xrefs.total_revisions)
    )


def admit_hybrid(reader: PdfFileReader) -> str | None:
    """Check a hybrid file; if it is consistent, let pyHanko sign and validate with ``reader``.

    Returns the problem found (the reader is then left as pyHanko refuses it), or None; a file
    that is not hybrid is returned as it is.
    """
    if not isinstance(reader.xrefs, XRefCache) or not is_hybrid(reader):
        return None
    if isinstance(reader.xrefs, _CheckedHybridXRefCache):
        return None
    problem = check_hybrid(reader)
    if problem is None:
        reader.xrefs.__class__ = _CheckedHybridXRefCache
    return problem


def refuse_inconsistent_hybrid(data: bytes) -> None:
    """`admit_hybrid_or_refuse` on a whole file, before anything reads its pages.

    What is not a readable, unencrypted PDF is left to the caller's own reading.
    """
    if b"/XRefStm" not in data:
        return
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        if reader.encrypted:
            return
    except Exception:  # pyHanko raises many types on broken input; the caller reports it
        return
    admit_hybrid_or_refuse(reader)


def admit_hybrid_or_refuse(reader: PdfFileReader) -> None:
    """`admit_hybrid` for signing: a hybrid file whose views differ is refused, in Vietnamese."""
    try:
        problem = admit_hybrid(reader)
    except RecursionError:
        raise UnreadablePdfError("tệp PDF lồng quá sâu, không đọc được") from None
    except Exception as error:  # pyHanko raises many types on broken objects
        problem = f"the two cross-reference views cannot be compared: {error}"
    if problem is not None:
        raise UnreadablePdfError(f"{HYBRID_REFUSED} (chi tiết: {problem})")


def check_hybrid(reader: PdfFileReader) -> str | None:
    """The first way the classic and the cross-reference stream views differ, or None."""
    xrefs = reader.xrefs
    for revision in range(xrefs.total_revisions):
        data = xrefs.get_xref_data(revision)
        if data.hybrid is None:
            continue
        table = xrefs.get_xref_container_info(revision)
        companion = data.hybrid.meta_info
        if companion.end_location > table.start_location:
            return (
                f"hybrid file: the /XRefStm stream of revision {revision + 1} (offset "
                f"{companion.start_location}) does not lie before the table that names it"
            )
        problem = _conflict(reader, revision, data, data.hybrid.xref_data)
        if problem:
            return problem
    if any(
        xrefs.get_xref_container_info(revision).xref_section_type == XRefSectionType.STREAM
        for revision in range(xrefs.total_revisions)
    ):
        # A reader without cross-reference streams cannot open the file at all: no second view.
        return None
    if _reaches_only_classic(reader):
        return None
    return _hidden_from_classic(reader)


def _where(location: int | ObjStreamRef) -> str:
    if isinstance(location, ObjStreamRef):
        return f"in object stream {location.obj_stream_id}"
    return f"at offset {location}"


def _classic(reader: PdfFileReader, idnum: int, revision: int) -> tuple[int, int] | str:
    """Where a reader of classic tables only finds object ``idnum``: (generation, offset)."""
    xrefs = reader.xrefs
    for number in range(revision, -1, -1):
        if xrefs.get_xref_container_info(number).xref_section_type == XRefSectionType.STREAM:
            continue  # no classic table in this revision
        data = xrefs.get_xref_data(number)
        found = data.standard_xrefs.get(idnum)
        if found is not None:
            return found
        if idnum in data.freed:
            return _FREE
    return _ABSENT


def _conflict(
    reader: PdfFileReader, revision: int, table: XRefSectionData, companion: XRefSectionData
) -> str | None:
    listed: dict[int, int | ObjStreamRef] = {
        idnum: offset for idnum, (_, offset) in companion.standard_xrefs.items()
    }
    listed.update(companion.xrefs_in_objstm)
    for idnum in sorted(listed):
        location = listed[idnum]
        classic = _classic(reader, idnum, revision)
        if isinstance(classic, tuple):
            if classic[1] != location:
                return (
                    f"hybrid file: object {idnum} is at offset {classic[1]} in the "
                    f"cross-reference table but {_where(location)} in /XRefStm"
                )
        elif idnum in table.freed and table.freed[idnum] != 0xFFFF:
            # Free in the table that names the stream: readers disagree on which entry wins.
            return (
                f"hybrid file: object {idnum} is free in the cross-reference table but "
                f"{_where(location)} in /XRefStm"
            )
    return None


# A region of the file (from an object's offset to the next offset any section declares) that
# holds one object whose value is made of names, numbers, references, arrays and dictionaries
# only: no string or comment, whose bytes another object overlapping the region could read in
# another lexical state. The value ends at "endobj", which ends the region, or at "stream" (a
# stream's dictionary: its data holds no references). Such a value is read within the region,
# and every reference in it matches _REFERENCE (pyHanko's own INDIRECT_PATTERN).
_SIMPLE_REGION = re.compile(
    rb"\A[\x00\t\n\x0c\r ]*(\d+)[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+obj"
    rb"((?:[^()<>%\\{}se]|<<|>>|s(?!tream)|e(?!ndobj))*)"
    rb"(?:endobj[\x00\t\n\x0c\r ]*\Z|stream(?:\r\n|\n))"
)
_BRACKETS = re.compile(rb"<<|>>|\[|\]")
_REFERENCE = re.compile(rb"(\d+)\s+(\d+)\s+R")


def _reaches_only_classic(reader: PdfFileReader) -> bool:
    """True when nothing reachable from the catalog, by any key, is missing from the tables.

    A fast, conservative form of `_hidden_from_classic`: objects in simple regions (see
    _SIMPLE_REGION) are not parsed, their references are read from their bytes, and every key
    is followed. It only ever follows more references than the exact walk, so True means the
    exact walk finds nothing either; on False the exact walk decides and names the problem.
    """
    xrefs = reader.xrefs
    last = xrefs.total_revisions - 1
    data = _file_bytes(reader)
    if data is None:
        return False
    boundaries = _declared_positions(reader, len(data))
    seen: set[int] = set()
    pending: list[generic.PdfObject] = [reader.trailer.raw_get("/Root")]
    while pending:
        value = pending.pop()
        if isinstance(value, generic.IndirectObject):
            idnum = value.idnum
            if idnum in seen:
                continue
            seen.add(idnum)
            if len(seen) > _MAX_OBJECTS:
                return False
            if xrefs.get_historical_ref(value.reference, last) is None:
                continue
            classic = _classic(reader, idnum, last)
            if not isinstance(classic, tuple):
                return False
            generation, offset = classic
            references = simple_references(data, boundaries, offset, idnum, generation)
            if references is not None:
                pending.extend(
                    generic.IndirectObject(number, gen, reader)  # type: ignore[no-untyped-call]
                    for number, gen in references
                )
                continue
            value = value.get_object()  # type: ignore[no-untyped-call]
        if isinstance(value, generic.DictionaryObject):
            pending.extend(
                value.raw_get(key)
                for key in value
                if key not in _NOT_SHOWN and isinstance(value.raw_get(key), _CONTAINERS)
            )
        elif isinstance(value, generic.ArrayObject):
            pending.extend(
                child
                for child in (value.raw_get(i) for i in range(len(value)))
                if isinstance(child, _CONTAINERS)
            )
    return True


def _file_bytes(reader: PdfFileReader) -> bytes | None:
    """The whole file, when it is small enough to hold in memory for the fast walk."""
    stream = reader.stream
    position = stream.tell()
    try:
        size = stream.seek(0, io.SEEK_END)
        if size > _MAX_FAST_WALK_BYTES:
            return None
        stream.seek(0)
        return bytes(stream.read())
    finally:
        stream.seek(position)


def _declared_positions(reader: PdfFileReader, size: int) -> list[int]:
    """Every offset a cross-reference section declares, and where each section starts, sorted."""
    xrefs = reader.xrefs
    positions = {size}
    for revision in range(xrefs.total_revisions):
        positions.add(xrefs.get_xref_container_info(revision).start_location)
        section = xrefs.get_xref_data(revision)
        positions.update(offset for _, offset in section.standard_xrefs.values())
        if section.hybrid is not None:
            positions.add(section.hybrid.meta_info.start_location)
            positions.update(
                offset for _, offset in section.hybrid.xref_data.standard_xrefs.values()
            )
    return sorted(positions)


def simple_references(
    data: bytes, boundaries: list[int], offset: int, idnum: int, generation: int
) -> list[tuple[int, int]] | None:
    """The references in the object at ``offset`` if its region is simple, else None."""
    end = boundaries[bisect.bisect_right(boundaries, offset)] if offset < len(data) else offset
    region = data[offset:end]
    match = _SIMPLE_REGION.match(region)
    if match is None or (int(match.group(1)), int(match.group(2))) != (idnum, generation):
        return None
    value = match.group(3)
    if not _balanced(value):
        return None  # pyHanko would not read it as one value: let it say so
    return [(int(m.group(1)), int(m.group(2))) for m in _REFERENCE.finditer(value)]


def _balanced(value: bytes) -> bool:
    """True when the dictionaries and arrays of ``value`` open and close in order."""
    stack: list[bytes] = []
    for token in _BRACKETS.findall(value):
        if token in (b"<<", b"["):
            stack.append(b">>" if token == b"<<" else b"]")
        elif not stack or stack.pop() != token:
            return False
    return not stack


def _hidden_from_classic(reader: PdfFileReader) -> str | None:
    """An object the pages need that only the cross-reference streams list, if any."""
    xrefs = reader.xrefs
    last = xrefs.total_revisions - 1
    seen: set[int] = set()
    root = reader.trailer.raw_get("/Root")
    # Depth first, page tree first (see _FIRST). Only containers and references are pushed (a
    # font's hundreds of /Widths numbers lead nowhere); each entry keeps its parent's entry and
    # its key, so the path is spelt out only for the object a problem names.
    pending: list[tuple[generic.PdfObject, _Trail]] = [(root, ("/Root", None))]
    while pending:
        value, trail = pending.pop()
        if isinstance(value, generic.IndirectObject):
            idnum = value.idnum
            if idnum in seen:
                continue
            seen.add(idnum)
            if len(seen) > _MAX_OBJECTS:
                return "hybrid file: too many objects to compare the two cross-reference views"
            if xrefs.get_historical_ref(value.reference, last) is None:
                continue  # a dangling or freed reference is null in both views
            if not isinstance(_classic(reader, idnum, last), tuple):
                return (
                    f"hybrid file: object {idnum} ({_path(trail)}) is only in /XRefStm, not in "
                    "the cross-reference table, so readers without cross-reference streams "
                    "show other pages"
                )
            value = value.get_object()  # type: ignore[no-untyped-call]
        if isinstance(value, generic.DictionaryObject):  # streams too: their dictionaries
            for key in sorted(value, key=_push_order):
                if key not in _NOT_SHOWN:
                    child = value.raw_get(key)
                    if isinstance(child, _CONTAINERS):
                        pending.append((child, (key, trail)))
        elif isinstance(value, generic.ArrayObject):
            for index in reversed(range(len(value))):
                child = value.raw_get(index)
                if isinstance(child, _CONTAINERS):
                    pending.append((child, (f"[{index}]", trail)))
    return None


def _push_order(key: str) -> int:
    """Keys pushed first are followed last."""
    return -(_FIRST.index(key) if key in _FIRST else len(_FIRST))


def _path(trail: _Trail) -> str:
    """The keys from the catalog down to an object, e.g. "/Root /Pages /Kids[0] /Contents"."""
    keys: list[str] = []
    step: _Trail | None = trail
    while step is not None:
        keys.append(step[0])
        step = step[1]
    path = ""
    for key in reversed(keys):
        path += ("" if key.startswith("[") or not path else " ") + key
    return path if len(path) <= 160 else path[:157] + "..."
