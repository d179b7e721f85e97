"""Two semantics-preserving speedups for pyHanko and asn1crypto, installed by the verifier.

1. A faster reader for PDF hex strings, installed into pyHanko's parser.

pyHanko reads a hex string one byte at a time through generators: about 10 ms for the 7,000-digit
/Contents of one signature, a third of a whole verification. This reader slices the string out in
chunks and decodes it with binascii. It only takes the fast path when the string holds nothing but
hex digits and PDF whitespace up to the closing '>'; anything else (comments, junk, end of data)
rewinds and hands over to pyHanko's own function, so results and errors stay exactly pyHanko's.

2. Memoised X.509 name comparison and `hashable`. asn1crypto compares names by normalising every
attribute with LDAP string preparation (RFC 4518), about 4 ms per verification because issuer
names are compared many times while finding the signer and building paths. Both results are pure
functions of the names' DER encodings, so identical encodings compare equal at once and other
results are remembered by encoding (bounded); the same agencies' certificates recur in every
document, so the memo pays across calls. The first computation is always asn1crypto's own.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable
from typing import Any, BinaryIO

from asn1crypto import x509
from pyhanko.pdf_utils import generic

_HEX = b"0123456789abcdefABCDEF"
_WHITESPACE = b" \n\r\t\x00\x0c"
_CHUNK = 16 * 1024
_MAX_FAST = 64 * 1024 * 1024

_original: Callable[[BinaryIO], Any] = generic.read_hex_string_from_stream
_original_name_eq: Callable[[x509.Name, object], bool] = x509.Name.__eq__
_original_hashable: property = x509.Name.hashable
_MEMO_LIMIT = 8192
_equal_memo: dict[tuple[bytes, bytes], bool] = {}
_hashable_memo: dict[bytes, str] = {}


def read_hex_string_fast(stream: BinaryIO) -> Any:
    """Same contract as pyHanko's read_hex_string_from_stream, faster on well-formed strings."""
    start = stream.tell()
    stream.read(1)
    chunks = []
    total = 0
    while True:
        chunk = stream.read(_CHUNK)
        end = chunk.find(b">")
        if end >= 0:
            stream.seek(end + 1 - len(chunk), os.SEEK_CUR)
            chunks.append(chunk[:end])
            break
        total += len(chunk)
        if not chunk or total > _MAX_FAST:
            return _fallback(stream, start)
        chunks.append(chunk)
    digits = b"".join(chunks).translate(None, _WHITESPACE)
    if digits.translate(None, _HEX):
        return _fallback(stream, start)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def _fallback(stream: BinaryIO, start: int) -> Any:
    stream.seek(start)
    return _original(stream)


def name_equal(self: x509.Name, other: object) -> bool:
    """RFC 5280 name equality, memoised by the two encodings."""
    if not isinstance(other, x509.Name):
        return False
    mine, theirs = self.dump(), other.dump()
    if mine == theirs:
        return True
    key = (mine, theirs) if mine < theirs else (theirs, mine)
    result = _equal_memo.get(key)
    if result is None:
        result = bool(_original_name_eq(self, other))
        if len(_equal_memo) >= _MEMO_LIMIT:
            _equal_memo.clear()
        _equal_memo[key] = result
    return result


def _name_hashable(self: x509.Name) -> str:
    """asn1crypto's normalised name key, memoised by encoding."""
    encoding = self.dump()
    result = _hashable_memo.get(encoding)
    if result is None:
        result = _original_hashable.fget(self)  # type: ignore[misc]
        if len(_hashable_memo) >= _MEMO_LIMIT:
            _hashable_memo.clear()
        _hashable_memo[encoding] = result
    return result


def install() -> None:
    """Install both speedups (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_fast  # type: ignore[assignment]
    x509.Name.__eq__ = name_equal  # type: ignore[method-assign,assignment]
    x509.Name.hashable = property(_name_hashable)  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """Restore the libraries' own functions (for baselines in benchmarks and tests)."""
    generic.read_hex_string_from_stream = _original  # type: ignore[assignment]
    x509.Name.__eq__ = _original_name_eq  # type: ignore[method-assign]
    x509.Name.hashable = _original_hashable  # type: ignore[method-assign]
