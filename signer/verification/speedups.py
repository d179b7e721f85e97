"""Semantics-preserving speedups for pyHanko and asn1crypto, installed by the verifier.

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

3. Certificates extracted from a CMS once per distinct certificate set. Every verification parsed
the same agency certificates afresh (extensions, key identifiers, names): about a third of a
verification. pyHanko's extract_certificate_info is a pure function of the certificate set and the
signer identifier, so its result is remembered under their encodings, with each certificate fully
parsed before it is shared (asn1crypto parses lazily in several steps, which another thread must
not observe half-done) and handed out only while its encoding is unchanged. Every check that uses
the certificates still runs on every call; only the parsing of identical bytes is skipped.

4. Faster PDF name reading: pyHanko reads a name's bytes one at a time through a generator and
decodes them byte by byte, about 10% of a verification. The fast reader finds the delimiter with
a regular expression; the fast decoder only handles names of plain printable ASCII without '#'
escapes (where pyHanko's result is that ASCII text) and hands anything else to pyHanko's decoder.

5. `SIGNATURE_VALIDATOR`, given to every ValidationContext (a public pyhanko-certvalidator hook):
it remembers successful signature checks over DER SEQUENCEs (certificates, CRLs, OCSP responses:
the same agency chains recur in every document). Whether a signature verifies is a pure function
of the signature, the signed bytes, the key, the algorithm and the context, all of which form the
key; failures are never remembered. CMS signed attributes (a SET, unique per signature) are
always checked afresh, so no per-document result is ever reused.

6. Faster arrays of plain numbers (font /Widths, /W, boxes, /ByteRange): pyHanko reads each element
through `read_object`, peeking for an indirect reference, about 1 us per number, and fonts carry
hundreds. The fast reader matches the whole array with one regular expression that admits only
numbers pyHanko itself would read (optional sign, digits, at most one dot) separated by PDF
whitespace and followed by whitespace or ']'; there is no 'R', so no element can be a reference.
Each number becomes the NumberObject or FloatObject pyHanko makes for that token, with the same
container reference. Anything else (comments, references, nested objects, an array longer than
the window) rewinds and goes to pyHanko's own reader.
"""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Callable
from typing import Any, BinaryIO

from asn1crypto import algos, cms, keys, x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.sign.general import SignedDataCerts, extract_certificate_info, extract_signer_info
from pyhanko.sign.validation import generic_cms
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

_HEX = b"0123456789abcdefABCDEF"
# PDF whitespace and delimiters (ISO 32000-1, 7.2.2), exactly pyHanko's misc constants.
_DELIMITER_RE = re.compile(rb"[ \n\r\t\x0c\x00()<>\[\]{}/%]")
_NAME_CHUNK = 64
_PLAIN_NAME_BYTES = bytes(b for b in range(0x21, 0x7F) if b not in b"#()<>[]{}/%")
_WHITESPACE = b" \n\r\t\x00\x0c"
_CHUNK = 16 * 1024
_ARRAY_WINDOW = 16 * 1024
_NUMBER = rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_NUMBER_ARRAY_RE = re.compile(
    rb"\[((?:[ \n\r\t\x00\x0c]*" + _NUMBER + rb"(?=[ \n\r\t\x00\x0c\]]))*)[ \n\r\t\x00\x0c]*\]"
)
_PDF_WHITESPACE_RE = re.compile(rb"[ \n\r\t\x00\x0c]+")
_MAX_FAST = 64 * 1024 * 1024

_original: Callable[[BinaryIO], Any] = generic.read_hex_string_from_stream
_original_read_until_delimiter: Callable[[BinaryIO], bytes] = misc.read_until_delimiter
_original_decode_name: Callable[[bytes], Any] = generic._decode_name
_original_read_array: Callable[..., Any] = generic.ArrayObject.read_from_stream
_original_name_eq: Callable[[x509.Name, object], bool] = x509.Name.__eq__
_original_hashable: property = x509.Name.hashable
_MEMO_LIMIT = 8192
_equal_memo: dict[tuple[bytes, bytes], bool] = {}
_hashable_memo: dict[bytes, str] = {}
_original_extract: Callable[[cms.SignedData], SignedDataCerts] = extract_certificate_info
_CERT_MEMO_LIMIT = 1024
_cert_memo: dict[bytes, x509.Certificate] = {}
_cert_info_memo: dict[tuple[bytes, bytes], SignedDataCerts] = {}


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


def read_until_delimiter_fast(stream: BinaryIO) -> bytes:
    """Same contract as pyHanko's read_until_delimiter: stops before a delimiter, or at the end."""
    start = stream.tell()
    parts: list[bytes] = []
    consumed = 0
    while True:
        chunk = stream.read(_NAME_CHUNK)
        if not chunk:
            return b"".join(parts)
        match = _DELIMITER_RE.search(chunk)
        if match is not None:
            stream.seek(start + consumed + match.start())
            parts.append(chunk[: match.start()])
            return b"".join(parts)
        parts.append(chunk)
        consumed += len(chunk)


def decode_name_fast(name_bytes: bytes) -> Any:
    """pyHanko's name decoding; plain printable ASCII without escapes decodes to itself."""
    if name_bytes.translate(None, _PLAIN_NAME_BYTES):
        return _original_decode_name(name_bytes)
    return generic.NameObject("/" + name_bytes.decode("ascii"))


def read_array_fast(
    stream: BinaryIO,
    container_ref: Any,
    in_content_stream: generic.ContentOpReading = generic.ContentOpReading.NO,
) -> Any:
    """pyHanko's ArrayObject.read_from_stream; an array of plain numbers is read in one match."""
    start = stream.tell()
    match = _NUMBER_ARRAY_RE.match(stream.read(_ARRAY_WINDOW))
    if match is None:
        stream.seek(start)
        return _original_read_array(stream, container_ref, in_content_stream=in_content_stream)
    array = generic.ArrayObject()
    for token in _PDF_WHITESPACE_RE.split(match.group(1)):
        if token:
            text = token.decode("ascii")
            number: Any = (
                generic.FloatObject(text)  # type: ignore[no-untyped-call]
                if b"." in token
                else generic.NumberObject(text)  # type: ignore[no-untyped-call]
            )
            number.container_ref = container_ref
            array.append(number)
    stream.seek(start + match.end())
    return array


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


def _interned(cert: x509.Certificate) -> x509.Certificate:
    """A parsed certificate with the same encoding seen before, else `cert` fully parsed."""
    encoding = cert.dump()
    known = _cert_memo.get(encoding)
    if known is not None and known.dump() == encoding:
        return known
    # Parse everything now, before any other thread can see the object: asn1crypto's lazy
    # parsing fills lists in several steps, which must not be observed half-done.
    _ = cert.native
    _ = cert.critical_extensions
    if len(_cert_memo) >= _CERT_MEMO_LIMIT:
        _cert_memo.clear()
    _cert_memo[encoding] = cert
    return cert


def extract_certificate_info_interned(signed_data: cms.SignedData) -> SignedDataCerts:
    """pyHanko's extract_certificate_info, remembered by the certificate set and signer id."""
    signer_info = extract_signer_info(signed_data)  # same check and error as pyHanko's
    key = (signed_data["certificates"].dump(), signer_info["sid"].dump())
    info = _cert_info_memo.get(key)
    if info is None:
        found = _original_extract(signed_data)
        info = SignedDataCerts(
            signer_cert=_interned(found.signer_cert),
            other_certs=[_interned(cert) for cert in found.other_certs],
            attribute_certs=found.attribute_certs,
        )
        if len(_cert_info_memo) >= _CERT_MEMO_LIMIT:
            _cert_info_memo.clear()
        _cert_info_memo[key] = info
    # Fresh lists: callers may extend theirs, and must never touch the remembered ones.
    return SignedDataCerts(
        signer_cert=info.signer_cert,
        other_certs=list(info.other_certs),
        attribute_certs=list(info.attribute_certs),
    )


_SEQUENCE_TAG = 0x30
_SignatureKey = tuple[bytes, bytes, bytes, bytes, SignatureValidationContext]


class RememberingSignatureValidator(DefaultSignatureValidator):
    """pyhanko-certvalidator's signature check, remembering successes over DER SEQUENCEs."""

    def __init__(self, limit: int = _CERT_MEMO_LIMIT) -> None:
        self._limit = limit
        self._verified: set[_SignatureKey] = set()

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        """Raise InvalidSignature (or pyHanko's errors) exactly as the default validator does."""
        signed = bytes(signed_data)
        if not signed or signed[0] != _SEQUENCE_TAG:
            super().validate_signature(
                signature, signed_data, public_key_info, signature_algorithm, context
            )
            return
        key = (
            bytes(signature),
            signed,
            public_key_info.dump(),
            signature_algorithm.dump(),
            context,
        )
        if key in self._verified:
            return
        super().validate_signature(
            signature, signed_data, public_key_info, signature_algorithm, context
        )
        if len(self._verified) >= self._limit:
            self._verified.clear()
        self._verified.add(key)


SIGNATURE_VALIDATOR = RememberingSignatureValidator()


_original_check_signing_certificate: Callable[[Any, Any], None] = (
    generic_cms._check_signing_certificate  # type: ignore[attr-defined]
)
_checked_signing_certificates: set[tuple[bytes, bytes]] = set()


def check_signing_certificate_once(cert: x509.Certificate, signed_attrs: Any) -> None:
    """pyHanko's ESS signing-certificate check, remembered when it passed.

    pyHanko runs it three times per signature on the same certificate and signed attributes;
    the answer is a pure function of their encodings, so a pass is remembered by them (a
    failure always raises afresh).
    """
    key = (cert.dump(), signed_attrs.dump())
    if key in _checked_signing_certificates:
        return
    _original_check_signing_certificate(cert, signed_attrs)
    if len(_checked_signing_certificates) >= _MEMO_LIMIT:
        _checked_signing_certificates.clear()
    _checked_signing_certificates.add(key)


def install() -> None:
    """Install all speedups (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_fast  # type: ignore[assignment]
    generic.read_until_delimiter = read_until_delimiter_fast  # type: ignore[attr-defined]
    generic._decode_name = decode_name_fast  # type: ignore[assignment]
    generic.ArrayObject.read_from_stream = staticmethod(read_array_fast)  # type: ignore[method-assign,assignment]
    x509.Name.__eq__ = name_equal  # type: ignore[method-assign,assignment]
    x509.Name.hashable = property(_name_hashable)  # type: ignore[method-assign,assignment]
    generic_cms.extract_certificate_info = extract_certificate_info_interned  # type: ignore[attr-defined]
    generic_cms._check_signing_certificate = check_signing_certificate_once  # type: ignore[attr-defined]


def uninstall() -> None:
    """Restore the libraries' own functions (for baselines in benchmarks and tests)."""
    generic.read_hex_string_from_stream = _original  # type: ignore[assignment]
    generic.read_until_delimiter = _original_read_until_delimiter  # type: ignore[attr-defined,assignment]
    generic._decode_name = _original_decode_name  # type: ignore[assignment]
    generic.ArrayObject.read_from_stream = staticmethod(_original_read_array)  # type: ignore[method-assign,assignment]
    x509.Name.__eq__ = _original_name_eq  # type: ignore[method-assign]
    x509.Name.hashable = _original_hashable  # type: ignore[method-assign]
    generic_cms.extract_certificate_info = _original_extract  # type: ignore[attr-defined,assignment]
    generic_cms._check_signing_certificate = _original_check_signing_certificate  # type: ignore[attr-defined,assignment]
