"""Checks on the raw bytes and revisions that pyHanko tolerates but a strict verifier must not."""

from __future__ import annotations

import io
import os
import re
from typing import BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType

from signer.errors import NotPdfError, PasswordProtectedError, UnreadablePdfError
from signer.messages import (
    EMPTY_FILE,
    NO_CATALOG,
    NOT_PDF,
    PASSWORD_PROTECTED,
    TOO_DEEP,
    pdf_error_message,
)

_HEADER_WINDOW = 1024
# After the last revision's cross-reference data only its trailer, startxref and %%EOF may follow:
# a table's data ends before its trailer dictionary; a stream's ends after "endstream" (pyHanko
# reads the keyword as part of the stream), so only "endobj" is left of that object.
_WS = rb"[\x00\t\n\x0c\r ]*"
_EOF_TAIL = rb"startxref[\x00\t\n\x0c\r ]+(\d+)" + _WS + rb"%%EOF" + _WS + rb"\Z"
_TABLE_TAIL_RE = re.compile(
    rb"\A" + _WS + rb"(?:trailer)?" + _WS + rb"(?:<<.*?>>)?" + _WS + _EOF_TAIL, re.DOTALL
)
_STREAM_TAIL_RE = re.compile(rb"\A" + _WS + rb"(?:endstream" + _WS + rb")?endobj" + _WS + _EOF_TAIL)
_MAX_TAIL = 64 * 1024
_MAX_PREFIX_ATTEMPTS = 32
_WHITESPACE = b"\x00\t\n\x0c\r "


def stream_size(stream: BinaryIO) -> int:
    """Length of a seekable stream."""
    stream.seek(0, os.SEEK_END)
    return stream.tell()


def open_reader(stream: BinaryIO) -> PdfFileReader:
    """A strict pyHanko reader, or UnreadablePdfError for anything that is not a readable PDF.

    The error's text is what the user reads (`congvan verify`, the verify API): Vietnamese, with
    pyHanko's own words in parentheses after it.
    """
    stream.seek(0)
    head = stream.read(_HEADER_WINDOW)
    if not head:
        raise NotPdfError(EMPTY_FILE)
    if b"%PDF-" not in head:
        raise NotPdfError(NOT_PDF)
    try:
        reader = PdfFileReader(stream, strict=True)
        if reader.encrypted and reader.decrypt("").status == AuthStatus.FAILED:
            # An owner-password-only file opens with the empty user password, as in any viewer,
            # and is verified as it is; one that needs a password cannot be read at all.
            raise PasswordProtectedError(PASSWORD_PROTECTED)
        # Touch the catalog now so a broken document fails here, not halfway through a signature.
        root = reader.root
        if not isinstance(root, generic.DictionaryObject):
            raise UnreadablePdfError(f"{NO_CATALOG} (chi tiết: /Root is not a dictionary)")
        _ = root.get("/AcroForm")
        _ = root.get("/Pages")
    except UnreadablePdfError:
        raise
    except RecursionError:
        raise UnreadablePdfError(TOO_DEEP) from None
    except Exception as error:  # pyHanko raises many types on broken input; all mean unreadable
        raise UnreadablePdfError(pdf_error_message(error)) from None
    return reader


def tail_problem(reader: PdfFileReader, size: int) -> str | None:
    """A problem if anything but whitespace follows the last revision's trailer and %%EOF.

    The last revision ends with its cross-reference table and trailer, or with its cross-reference
    stream object; then startxref, pointing at that table or stream, and %%EOF.
    """
    xrefs = reader.xrefs
    last = xrefs.total_revisions - 1
    meta = xrefs.get_xref_container_info(last)
    start = meta.end_location
    if size - start > _MAX_TAIL:
        return f"{size - start} bytes follow the last revision's cross-reference data"
    stream = reader.stream
    stream.seek(start)
    tail = stream.read(size - start)
    is_stream = meta.xref_section_type == XRefSectionType.STREAM
    match = (_STREAM_TAIL_RE if is_stream else _TABLE_TAIL_RE).match(tail)
    if match is None:
        return "bytes that belong to no revision follow the last %%EOF"
    if int(match.group(1)) != meta.declared_startxref:
        return "the final startxref does not point at the last revision"
    return None


def revision_problems(reader: PdfFileReader, last_signed_revision: int | None) -> list[str]:
    """Problems with incremental updates: an empty cross-reference section no signature covers.

    Some tools save an update that changes nothing between two signatures; the later signature
    covers it, and it changes nothing, so it is harmless. After the last signature (or document
    timestamp) such an update is an unsigned addition, which is how some forgeries hide a broken
    cross-reference section: that still fails. Hybrid-reference files are judged by
    signer/hybrid.py.
    """
    problems = []
    xrefs = reader.xrefs
    first = 1 if last_signed_revision is None else max(1, last_signed_revision + 1)
    for revision in range(first, xrefs.total_revisions):
        if not xrefs.explicit_refs_in_revision(revision):
            problems.append(f"revision {revision + 1} has an empty cross-reference section")
    return problems


def byte_range_problem(
    sig_object: generic.DictionaryObject, stream: BinaryIO, size: int
) -> str | None:
    """A problem if /ByteRange is not [0 a b c] with /Contents filling exactly the gap."""
    try:
        byte_range = sig_object.raw_get("/ByteRange")
    except KeyError:
        return "the signature has no /ByteRange"
    if isinstance(byte_range, generic.IndirectObject):
        return "/ByteRange is an indirect object"
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        return "/ByteRange is not an array of four integers"
    if not all(type(v) is generic.NumberObject for v in byte_range):
        return "/ByteRange holds something other than integers"
    start1, len1, start2, len2 = (int(v) for v in byte_range)
    if start1 != 0:
        return "/ByteRange does not start at the beginning of the file"
    if min(len1, start2, len2) < 0 or start2 < len1:
        return "/ByteRange ranges are negative or overlap"
    if start2 + len2 > size:
        return "/ByteRange reaches beyond the end of the file"
    gap = start2 - len1
    if gap < 2 or gap > 4 * 1024 * 1024:
        return "the gap in /ByteRange cannot hold the signature"
    try:
        contents = sig_object.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    except KeyError:
        return "the signature has no /Contents"
    if not isinstance(contents, generic.ByteStringObject | generic.TextStringObject):
        return "/Contents is not a string"
    stream.seek(len1)
    window = stream.read(gap)
    if window[:1] != b"<" or window[-1:] != b">":
        return "the gap in /ByteRange does not hold a hexadecimal /Contents string"
    try:
        in_gap = bytes.fromhex(window[1:-1].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return "the gap in /ByteRange holds something other than hexadecimal digits"
    if in_gap != contents.original_bytes:
        return "/Contents is not the string that the /ByteRange gap leaves unsigned"
    if not in_gap.rstrip(b"\x00"):
        return "/Contents is empty or zeroed"
    return None


def signed_prefix(stream: BinaryIO, size: int) -> int | None:
    """The length of the longest prefix ending at a %%EOF that opens as a PDF, if any."""
    stream.seek(0)
    data = stream.read(size)
    end = len(data)
    for _ in range(_MAX_PREFIX_ATTEMPTS):
        position = data.rfind(b"%%EOF", 0, end)
        if position < 0:
            return None
        cut = position + 5
        while cut < len(data) and data[cut : cut + 1] in (b"\r", b"\n"):
            cut += 1
        if cut < size:
            try:
                open_reader(io.BytesIO(data[:cut]))
                return cut
            except UnreadablePdfError:
                pass
        end = position
    return None


def is_whitespace(data: bytes) -> bool:
    """True when the bytes are PDF whitespace only."""
    return not data.strip(_WHITESPACE)
