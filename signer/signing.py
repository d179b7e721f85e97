"""PAdES signing (B-B, B-T, B-LT, B-LTA) of PDF files, file to file with bounded memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO, Literal, cast

from asn1crypto import x509
from pyhanko.pdf_utils.generic import DictionaryObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import async_add_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError

from signer.appearance import Appearance, PreparedStampStyle, plan_appearance
from signer.credentials import Credential
from signer.encryption import decrypt_unsigned
from signer.errors import (
    EncryptedPdfError,
    SignerError,
    SigningError,
    TrustServiceError,
    UnreadablePdfError,
)
from signer.fetching import fetcher_backend, service_url
from signer.files import temp_beside
from signer.hybrid import admit_hybrid_or_refuse
from signer.messages import (
    ENCRYPTED,
    describe,
    file_error_message,
    pdf_error_message,
    signing_error_message,
)
from signer.trust import is_development_mode
from signer.vietnam_time import VIETNAM_TIME as VN_TIME

__all__ = ["Level", "SignOptions", "SignResult", "sign_pdf"]

Level = Literal["b-b", "b-t", "b-lt", "b-lta"]
LEVELS: tuple[Level, ...] = ("b-b", "b-t", "b-lt", "b-lta")
DocMdp = Literal["no_changes", "fill_forms", "annotate"]
BeforeSigning = Callable[[IncrementalPdfFileWriter], None]

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


@dataclass(frozen=True)
class SignOptions:
    """What kind of signature to add, and the text it carries."""

    level: Level = "b-b"
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
            "level": self.level,
            "digest_sha256": self.digest_sha256,
            "size": self.size,
        }


def max_signature_size(certificate: x509.Certificate) -> int:
    """Upper bound of a raw signature by the certificate's key, in bytes, whatever holds the key."""
    key = certificate.public_key
    size = (int(key.bit_size) + 7) // 8
    if key.algorithm == "rsa":
        return size
    # ECDSA: a DER SEQUENCE of two INTEGERs, each possibly one byte longer for the sign bit.
    return 2 * (size + 3) + 3


def signature_bytes_reserved(credential: Credential, level: Level) -> int:
    """Size of the /Contents placeholder (hex digits) that always fits our CMS container."""
    certificates = sum(len(c.dump()) for c in (credential.certificate, *credential.chain))
    raw_signature = max_signature_size(credential.certificate)
    issuer_name = len(credential.certificate.issuer.dump())
    der_size = certificates + raw_signature + 2 * issuer_name + CMS_FIXED_BYTES
    if level != "b-b":
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
        use_pades_lta=context is not None and options.level == "b-lta",
        validation_context=context,
        # Agency certificates may carry digitalSignature only; officials carry both.
        signer_key_usage={"digital_signature"},
    )


def _check_options(options: SignOptions) -> None:
    if options.level not in LEVELS:
        raise SigningError(
            f"mức PAdES không hợp lệ {options.level!r}; dùng một trong {', '.join(LEVELS)}"
        )
    if options.docmdp not in _DOCMDP:
        raise SigningError(f"quyền DocMDP không hợp lệ {options.docmdp!r}")
    if options.level != "b-b" and not options.tsa_url:
        raise SigningError(f"mức {options.level} cần địa chỉ dịch vụ cấp dấu thời gian (tsa_url)")
    if options.level in ("b-lt", "b-lta") and not options.trust_roots:
        raise SigningError(
            f"mức {options.level} cần chứng thư gốc tin cậy (trust roots) "
            "để thu thập dữ liệu thu hồi"
        )


def _copy_hashing(source: IO[bytes], target: IO[bytes], digest: hashlib._Hash) -> int:
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return size


def _open_writer(work: IO[bytes]) -> IncrementalPdfFileWriter:
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


def _open_decrypted(work: IO[bytes]) -> tuple[IncrementalPdfFileWriter, bytes]:
    """The writer for an encrypted input that has no signature, rewritten unencrypted in place.

    An incremental update cannot remove encryption, and a signature inside an encrypted file
    ties every later step to it; a file with no signature loses nothing by being rewritten
    whole (signer/encryption.py). Password-protected or signed files are refused there.
    """
    work.seek(0)
    plain = decrypt_unsigned(work.read())
    work.seek(0)
    work.truncate()
    work.write(plain)
    work.flush()
    return _open_writer(work), plain


def _existing_field_names(writer: IncrementalPdfFileWriter) -> set[str]:
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


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken = _existing_field_names(writer)
    number = 1
    while f"Signature{number}" in taken:
        number += 1
    return f"Signature{number}"


def _describe(error: BaseException) -> str:
    """Join an error with its causes: pyHanko wraps the informative part."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 4:
        text = str(current) or type(current).__name__
        if text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(parts)


async def _embed_earlier_validation_info(work: IO[bytes], context: ValidationContext) -> None:
    """Add revocation data for the signatures already in the document to its DSS.

    A B-LT document must be verifiable long-term as a whole: when the agency signs after the
    official, the official's certificate status is captured now too, not only the agency's.
    Each signature gets its own small incremental update (DSS changes are permitted additions).
    """
    work.seek(0)
    count = len(PdfFileReader(work, strict=True).embedded_regular_signatures)
    for index in range(count):
        work.seek(0)
        # A fresh reader each time: the previous update changed the file under the old one.
        embedded = PdfFileReader(work, strict=True).embedded_regular_signatures[index]
        await async_add_validation_info(
            embedded, context, in_place=True, chunk_size=CHUNK_SIZE, embed_roots=False
        )


async def _run_signer(
    pdf_signer: PdfSigner,
    writer: IncrementalPdfFileWriter,
    work: IO[bytes],
    bytes_reserved: int,
    context: ValidationContext | None,
    before_signing: BeforeSigning | None,
) -> None:
    try:
        if context is not None and writer.prev.embedded_regular_signatures:
            await _embed_earlier_validation_info(work, context)
            writer = _open_writer(work)
        if before_signing is not None:
            before_signing(writer)
        await pdf_signer.async_sign_pdf(
            writer, bytes_reserved=bytes_reserved, in_place=True, chunk_size=CHUNK_SIZE
        )
    finally:
        if context is not None:
            await context.aclose()  # type: ignore[no-untyped-call]


def _visible(
    writer: IncrementalPdfFileWriter,
    work: IO[bytes],
    field_name: str,
    credential: Credential,
    options: SignOptions,
) -> tuple[PreparedStampStyle | None, SigFieldSpec | None]:
    """The appearance and, for a new field, its widget; nothing for an invisible signature."""
    if options.appearance is None:
        return None, None
    moment = datetime.now(VN_TIME)
    drawing = plan_appearance(options.appearance, writer, work, credential.certificate, moment)
    style = PreparedStampStyle(drawing=drawing)
    if field_name in _existing_field_names(writer):
        return style, None  # a prepared field keeps its own widget rectangle
    # pyHanko types the box as integers but writes any number; fractions keep the placement.
    box = cast(tuple[int, int, int, int], drawing.box)
    return style, SigFieldSpec(field_name, on_page=drawing.page, box=box)


def _sign_into(
    source: IO[bytes],
    work: IO[bytes],
    credential: Credential,
    options: SignOptions,
    before_signing: BeforeSigning | None,
) -> SignResult:
    """Copy ``source`` into ``work`` (hashing it), then append the signature in place."""
    digest = hashlib.sha256()
    original_size = _copy_hashing(source, work, digest)
    if original_size == 0:
        raise UnreadablePdfError("tệp đầu vào rỗng")
    try:
        writer = _open_writer(work)
    except EncryptedPdfError:
        writer, plain = _open_decrypted(work)
        digest, original_size = hashlib.sha256(plain), len(plain)
    field_name = options.field_name or _free_field_name(writer)
    stamp_style, field_spec = _visible(writer, work, field_name, credential, options)

    context = None
    # In development, requests to the built-in development address follow
    # CONGVAN_DEV_SERVICES_URL (signer/fetching.py).
    development = is_development_mode()
    if options.level in ("b-lt", "b-lta"):
        context = ValidationContext(
            trust_roots=list(options.trust_roots),
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetcher_backend=fetcher_backend(development=development),
        )
    metadata = signature_metadata(options, field_name, credential.common_name, context)
    timestamper = None
    tsa_url = options.tsa_url and service_url(options.tsa_url, development=development)
    if options.level != "b-b" and tsa_url:
        timestamper = HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS)
    pdf_signer = PdfSigner(
        metadata,
        credential.signer,
        timestamper=timestamper,
        stamp_style=stamp_style,
        new_field_spec=field_spec,
    )
    reserved = signature_bytes_reserved(credential, options.level)
    try:
        asyncio.run(_run_signer(pdf_signer, writer, work, reserved, context, before_signing))
    except TimestampRequestError as error:
        raise TrustServiceError(
            f"không kết nối được dịch vụ cấp dấu thời gian {tsa_url}: {_describe(error)}"
        ) from None
    except PyHankoSigningError as error:
        if tsa_url and isinstance(error.__cause__, TimestampRequestError):
            raise TrustServiceError(
                f"dịch vụ cấp dấu thời gian {tsa_url} báo lỗi: {_describe(error)}"
            ) from None
        raise SigningError(signing_error_message(error)) from None
    except (PathError, ValidationError) as error:
        # Raised while collecting revocation data for the signatures already present.
        raise SigningError(
            "không xác minh được chứng thư số của chữ ký đã có trong văn bản "
            f"(chi tiết: {describe(error)})"
        ) from None
    except (PdfError, ValueError, KeyError, TypeError) as error:
        raise UnreadablePdfError(pdf_error_message(error, "tệp PDF để ký")) from None

    # Incremental updates only append, so the input's hash state extends to the whole output.
    work.seek(original_size)
    size = original_size
    while chunk := work.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return SignResult(
        field_name=field_name, level=options.level, digest_sha256=digest.hexdigest(), size=size
    )


@contextmanager
def _opened_source(source: str | os.PathLike[str] | BinaryIO) -> Iterator[IO[bytes]]:
    if not isinstance(source, str | os.PathLike):
        yield source
        return
    try:
        stream = open(source, "rb")  # noqa: SIM115  # closed below; the body's errors pass through
    except OSError as error:
        raise UnreadablePdfError(file_error_message(error, os.fspath(source))) from None
    with stream:
        yield stream


def sign_pdf(
    source: str | os.PathLike[str] | BinaryIO,
    output: str | os.PathLike[str] | BinaryIO,
    credential: Credential,
    options: SignOptions = SignOptions(),  # frozen, so a shared default is safe
    *,
    before_signing: BeforeSigning | None = None,
) -> SignResult:
    """Sign ``source`` into ``output``; nothing is written to ``output`` unless signing succeeds.

    ``before_signing`` may change the document in the same revision as the signature, which
    then covers the change (the issue workflow fills the number and date this way).
    """
    _check_options(options)
    with _opened_source(source) as stream:
        if not isinstance(output, str | os.PathLike):
            with tempfile.TemporaryFile() as work:
                result = _sign_into(stream, work, credential, options, before_signing)
                work.seek(0)
                shutil.copyfileobj(work, output, CHUNK_SIZE)
            return result
        target = Path(output)
        descriptor, temp_name = temp_beside(target)
        try:
            # mkstemp makes the file private (0600); a signed document keeps the usual mode.
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
            os.fchmod(descriptor, mode)
            with os.fdopen(descriptor, "w+b") as work:
                result = _sign_into(stream, work, credential, options, before_signing)
                work.flush()
                os.fsync(work.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return result
