"""The PAdES signing core that sign_pdf (signing.py) and two-step signing (remote.py) share.

What a signature is asked for (`Level`, `SignOptions`) and what came out (`SignResult`); the
document helpers (opening the PDF for an incremental update, a free field name, the visible
appearance, the signature dictionary and the room its CMS needs); the trust services a level
needs; and the one place where what pyHanko raises becomes our error, in Vietnamese.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import IO, BinaryIO, Literal, cast

from asn1crypto import x509
from pyhanko.pdf_utils.generic import DictionaryObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import async_add_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError

from signer.appearance import Appearance, PreparedStampStyle, plan_appearance
from signer.devpki import BUILT_IN_DEV_SERVICES, DevServices
from signer.errors import (
    EncryptedPdfError,
    SignerError,
    SigningError,
    TrustServiceError,
    UnreadablePdfError,
)
from signer.fetching import fetcher_backend, service_url
from signer.hybrid import admit_hybrid_or_refuse
from signer.keys import Credential
from signer.messages import (
    ENCRYPTED,
    describe,
    file_error_message,
    pdf_error_message,
    signing_error_message,
)
from signer.vietnam_time import VIETNAM_TIME

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_OPTIONS",
    "TSA_TIMEOUT_SECONDS",
    "DocMdp",
    "Level",
    "LevelName",
    "SignOptions",
    "SignResult",
    "SigningStep",
    "check_options",
    "copy_hashing",
    "embed_validation_info",
    "existing_field_names",
    "free_field_name",
    "hash_rest",
    "max_signature_size",
    "open_writer",
    "opened_source",
    "require_services",
    "revocation_context",
    "signature_bytes_reserved",
    "signature_metadata",
    "signing_error_for",
    "signing_errors",
    "timestamp_service",
    "visible_signature",
]

LevelName = Literal["b-b", "b-t", "b-lt", "b-lta"]
DocMdp = Literal["no_changes", "fill_forms", "annotate"]

CHUNK_SIZE = 1 << 20
TSA_TIMEOUT_SECONDS = 10
# Room in the CMS container besides certificates, raw signature and the issuer name (which
# appears twice: SignerInfo's issuer-and-serial and ESS signing-certificate-v2): content type,
# message digest, serials, algorithm identifiers with PSS parameters, DER framing. About
# 300 bytes measured on the dev PKI; 1 KiB reserved.
CMS_FIXED_BYTES = 1024
# Room for an RFC 3161 token: TSTInfo plus the TSA's own SignedData, which usually carries the
# TSA certificate and sometimes its chain (about 1.5 KiB per certificate, ~5 KiB seen in practice).
TIMESTAMP_TOKEN_BYTES = 16384

_DOCMDP = {
    "no_changes": MDPPerm.NO_CHANGES,
    "fill_forms": MDPPerm.FILL_FORMS,
    "annotate": MDPPerm.ANNOTATE,
}
# What pyHanko and the PDF parser raise on a document they cannot process.
_PDF_ERRORS = (PdfError, ValueError, KeyError, TypeError)


class Level(StrEnum):
    """A PAdES baseline level; each member is its own name as a string (``Level.B_T == "b-t"``)."""

    B_B = "b-b"
    B_T = "b-t"
    B_LT = "b-lt"
    B_LTA = "b-lta"

    @classmethod
    def parse(cls, value: str) -> Level:
        """The level named ``value`` ("b-b", "b-t", "b-lt", "b-lta"); anything else is refused."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(level.value for level in cls)
            raise SigningError(
                f"mức PAdES không hợp lệ {value!r}; dùng một trong {names}"
            ) from None

    @property
    def needs_timestamp(self) -> bool:
        """B-T and above: a signature timestamp from a TSA."""
        return self is not Level.B_B

    @property
    def needs_revocation_data(self) -> bool:
        """B-LT and above: OCSP responses and CRLs in the document security store."""
        return self in (Level.B_LT, Level.B_LTA)

    @property
    def is_lta(self) -> bool:
        """B-LTA: an archive timestamp over everything, after the revocation data."""
        return self is Level.B_LTA


@dataclass(frozen=True)
class SignOptions:
    """What kind of signature to add, and the text it carries."""

    level: Level | LevelName = "b-b"
    certify: bool = False
    docmdp: DocMdp = "fill_forms"
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    signer_name: str | None = None
    contact_info: str | None = None
    tsa_url: str | None = None
    trust_roots: tuple[x509.Certificate, ...] = ()
    appearance: Appearance | None = None
    # Development: requests to the built-in development address go to `dev_services`. Off by
    # default (production): nothing is moved.
    development: bool = False
    dev_services: DevServices = BUILT_IN_DEV_SERVICES


DEFAULT_OPTIONS = SignOptions()  # frozen, so one shared default is safe


@dataclass(frozen=True)
class SignResult:
    """The signature field used, the level reached, and the SHA-256 and size of the output."""

    field_name: str
    level: Level
    digest_sha256: str
    size: int

    def to_dict(self) -> dict[str, str | int]:
        """Plain JSON-ready form."""
        return {
            "field_name": self.field_name,
            "level": self.level.value,
            "digest_sha256": self.digest_sha256,
            "size": self.size,
        }


def require_services(
    level: Level,
    tsa_url: str | None,
    trust_roots: Sequence[x509.Certificate],
    roots_for: str = " để thu thập dữ liệu thu hồi",
) -> None:
    """Refuse a level whose timestamping service or trust roots (for revocation data) are missing.

    ``roots_for`` ends the message about missing trust roots (empty for the remote finish).
    """
    if level.needs_timestamp and not tsa_url:
        raise SigningError(f"mức {level} cần địa chỉ dịch vụ cấp dấu thời gian (tsa_url)")
    if level.needs_revocation_data and not trust_roots:
        raise SigningError(f"mức {level} cần chứng thư gốc tin cậy (trust roots){roots_for}")


def check_options(options: SignOptions) -> Level:
    """The level of ``options``, once everything it needs is known to be given."""
    level = Level.parse(options.level)
    if options.docmdp not in _DOCMDP:
        raise SigningError(f"quyền DocMDP không hợp lệ {options.docmdp!r}")
    require_services(level, options.tsa_url, options.trust_roots)
    return level


def max_signature_size(certificate: x509.Certificate) -> int:
    """Upper bound of a raw signature by the certificate's key, in bytes, whatever holds the key."""
    key = certificate.public_key
    size = (int(key.bit_size) + 7) // 8
    if key.algorithm == "rsa":
        return size
    # ECDSA: a DER SEQUENCE of two INTEGERs, each possibly one byte longer for the sign bit.
    return 2 * (size + 3) + 3


def signature_bytes_reserved(credential: Credential, level: Level | LevelName) -> int:
    """Size of the /Contents placeholder (hex digits) that always fits our CMS container."""
    certificates = sum(len(c.dump()) for c in (credential.certificate, *credential.chain))
    raw_signature = max_signature_size(credential.certificate)
    issuer_name = len(credential.certificate.issuer.dump())
    der_size = certificates + raw_signature + 2 * issuer_name + CMS_FIXED_BYTES
    if Level.parse(level).needs_timestamp:
        der_size += TIMESTAMP_TOKEN_BYTES
    # Revocation data needs no room here: with the PAdES subfilter, B-LT puts OCSP responses
    # and CRLs in the document security store, a later incremental update, not in the CMS.
    return 2 * der_size


def signature_metadata(
    options: SignOptions,
    field_name: str,
    signer_name: str | None,
    context: ValidationContext | None = None,
) -> PdfSignatureMetadata:
    """The signature dictionary and PAdES settings for ``options``.

    ``context`` (trust roots, fetching allowed) is given for B-LT and B-LTA, whose revocation
    data is collected while signing.
    """
    return PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=options.reason,
        location=options.location,
        name=options.signer_name or signer_name,
        contact_info=options.contact_info,
        certify=options.certify,
        docmdp_permissions=_DOCMDP[options.docmdp],
        embed_validation_info=context is not None,
        use_pades_lta=context is not None and Level.parse(options.level).is_lta,
        validation_context=context,
        # Agency certificates may carry digitalSignature only; officials carry both.
        signer_key_usage={"digital_signature"},
    )


@contextmanager
def opened_source(source: str | os.PathLike[str] | BinaryIO) -> Iterator[IO[bytes]]:
    """``source`` opened for reading if it is a path (told in Vietnamese if it cannot be)."""
    if not isinstance(source, str | os.PathLike):
        yield source
        return
    try:
        stream = open(source, "rb")  # noqa: SIM115  # closed below; the body's errors pass through
    except OSError as error:
        raise UnreadablePdfError(file_error_message(error, os.fspath(source))) from None
    with stream:
        yield stream


def copy_hashing(source: IO[bytes], target: IO[bytes], digest: hashlib._Hash) -> int:
    """Copy ``source`` to ``target`` in chunks, hashing what passes; the number of bytes."""
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return size


def hash_rest(stream: IO[bytes], digest: hashlib._Hash) -> int:
    """Hash ``stream`` from where it stands to its end; the number of bytes read."""
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return size


def open_writer(work: IO[bytes]) -> IncrementalPdfFileWriter:
    """Parse the copied input; anything that is not a plain readable PDF is refused."""
    work.seek(0)
    if work.read(5) != b"%PDF-":
        raise UnreadablePdfError("tệp đầu vào không phải PDF (thiếu phần đầu %PDF-)")
    work.seek(0)
    try:
        writer = IncrementalPdfFileWriter(work, strict=True)
        if writer.prev.encrypted:
            raise EncryptedPdfError(ENCRYPTED)
        admit_hybrid_or_refuse(writer.prev)  # a Word or Excel export, if its views agree
        writer.root["/Pages"]  # a PDF without a page tree is not a document
    except SignerError:
        raise
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise UnreadablePdfError(pdf_error_message(error)) from None
    except RecursionError:
        raise UnreadablePdfError("tệp PDF lồng quá sâu, không đọc được") from None
    return writer


def existing_field_names(writer: IncrementalPdfFileWriter) -> set[str]:
    """The names of the document's top-level form fields."""
    try:
        acroform = writer.root.get("/AcroForm")
        fields = acroform.get_object().get("/Fields", []) if acroform is not None else []
        names: set[str] = set()
        for ref in fields:
            field = ref.get_object()
            if isinstance(field, DictionaryObject) and "/T" in field:
                names.add(str(field["/T"]))
        return names
    except (PdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnreadablePdfError(
            pdf_error_message(error, "các trường biểu mẫu của tệp PDF")
        ) from None


def free_field_name(writer: IncrementalPdfFileWriter) -> str:
    """The first of Signature1, Signature2, ... that no field of the document has taken."""
    taken = existing_field_names(writer)
    number = 1
    while f"Signature{number}" in taken:
        number += 1
    return f"Signature{number}"


def visible_signature(
    writer: IncrementalPdfFileWriter,
    work: IO[bytes],
    field_name: str,
    credential: Credential,
    options: SignOptions,
) -> tuple[PreparedStampStyle | None, SigFieldSpec | None]:
    """The appearance and, for a new field, its widget; nothing for an invisible signature."""
    if options.appearance is None:
        return None, None
    moment = datetime.now(VIETNAM_TIME)
    drawing = plan_appearance(options.appearance, writer, work, credential.certificate, moment)
    style = PreparedStampStyle(drawing=drawing)
    if field_name in existing_field_names(writer):
        return style, None  # a prepared field keeps its own widget rectangle
    # pyHanko types the box as integers but writes any number; fractions keep the placement.
    box = cast(tuple[int, int, int, int], drawing.box)
    return style, SigFieldSpec(field_name, on_page=drawing.page, box=box)


def revocation_context(
    trust_roots: Sequence[x509.Certificate],
    *,
    development: bool,
    dev_services: DevServices = BUILT_IN_DEV_SERVICES,
) -> ValidationContext:
    """Where B-LT revocation data comes from: fetched live, a missing answer is an error.

    In development, requests to the built-in development address go to `dev_services`
    (signer/fetching.py).
    """
    return ValidationContext(
        trust_roots=list(trust_roots),
        allow_fetching=True,
        revocation_mode="hard-fail",
        fetcher_backend=fetcher_backend(development=development, dev_services=dev_services),
    )


def timestamp_service(
    level: Level,
    tsa_url: str | None,
    *,
    development: bool = False,
    dev_services: DevServices = BUILT_IN_DEV_SERVICES,
) -> tuple[str | None, HTTPTimeStamper | None]:
    """The TSA address to contact (the development services may have moved) and its client.

    No client for B-B, and no address change: a level without a timestamp contacts nobody.
    """
    if not level.needs_timestamp or not tsa_url:
        return tsa_url, None
    url = service_url(tsa_url, development=development, dev_services=dev_services)
    return url, HTTPTimeStamper(url, timeout=TSA_TIMEOUT_SECONDS)


async def embed_validation_info(work: IO[bytes], context: ValidationContext, index: int) -> None:
    """Add revocation data for the document's signature number ``index`` to its DSS, in place.

    A fresh reader every time: an earlier update may have changed the file under an old one.
    """
    work.seek(0)
    embedded = PdfFileReader(work, strict=True).embedded_regular_signatures[index]
    await async_add_validation_info(
        embedded, context, in_place=True, chunk_size=CHUNK_SIZE, embed_roots=False
    )


class SigningStep(Enum):
    """Where pyHanko raised, which decides what the error means to the person signing."""

    SIGN = "sign"  # sign_pdf: signature, timestamp and revocation data in one go
    PREPARE = "prepare"  # remote: the document made ready for the client's signature
    TIMESTAMP = "timestamp"  # remote: the client's signature in a CMS, timestamped
    LONG_TERM = "long-term"  # remote: revocation data and archive timestamp, once embedded


def signing_error_for(
    error: BaseException, step: SigningStep, tsa_url: str | None = None
) -> SignerError | None:
    """Our error, in Vietnamese, for what pyHanko raised at ``step``; None if not one of its.

    ``tsa_url`` is the timestamping service contacted, named when it failed.
    """
    detail = describe(error, verbatim=True)
    unusable = f"không ký được tệp PDF: {detail}"
    if step is SigningStep.TIMESTAMP:
        if isinstance(error, TimestampRequestError | PyHankoSigningError):
            return TrustServiceError(f"không lấy được dấu thời gian từ {tsa_url}: {detail}")
        return None
    if step is SigningStep.PREPARE:
        if isinstance(error, PyHankoSigningError):
            return SigningError(f"không chuẩn bị được văn bản để ký: {detail}")
        return UnreadablePdfError(unusable) if isinstance(error, _PDF_ERRORS) else None
    if isinstance(error, TimestampRequestError):
        return TrustServiceError(
            f"không kết nối được dịch vụ cấp dấu thời gian {tsa_url}: {detail}"
        )
    if step is SigningStep.LONG_TERM:
        if isinstance(error, PathError | ValidationError | PyHankoSigningError):
            return SigningError(f"không thu thập được dữ liệu thu hồi cho chữ ký: {detail}")
        return UnreadablePdfError(unusable) if isinstance(error, _PDF_ERRORS) else None
    if isinstance(error, PyHankoSigningError):
        if tsa_url and isinstance(error.__cause__, TimestampRequestError):
            return TrustServiceError(f"dịch vụ cấp dấu thời gian {tsa_url} báo lỗi: {detail}")
        return SigningError(signing_error_message(error))
    if isinstance(error, PathError | ValidationError):
        # Raised while collecting revocation data for the signatures already present.
        return SigningError(
            "không xác minh được chứng thư số của chữ ký đã có trong văn bản "
            f"(chi tiết: {describe(error)})"
        )
    if isinstance(error, _PDF_ERRORS):
        return UnreadablePdfError(pdf_error_message(error, "tệp PDF để ký"))
    return None


@contextmanager
def signing_errors(step: SigningStep, tsa_url: str | None = None) -> Iterator[None]:
    """Run the block; what pyHanko raises in it is raised as our error (`signing_error_for`)."""
    try:
        yield
    except Exception as error:
        ours = signing_error_for(error, step, tsa_url)
        if ours is None:
            raise
        raise ours from None
