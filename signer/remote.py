"""Two-step signing with a key the service never holds (a USB token on the official's computer).

The service prepares the PDF (signature field, dictionary, reserved space) and hands the client
the DER signed attributes to sign; the client's token signs them; the service checks the returned
signature against the certificate and digest recorded at preparation, then embeds it. Between the
two steps only two files exist: the prepared PDF and a small JSON state beside it, so the finish
may run minutes later in another process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from asn1crypto import cms, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import ExternalSigner, PdfSignatureMetadata, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import async_add_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signer.credentials import Credential
from signer.errors import SigningError, TrustServiceError, UnreadablePdfError
from signer.fetching import fetcher_backend, service_url
from signer.files import temp_beside
from signer.remote_session import (
    DEFAULT_VALIDITY,
    ECDSA,
    RSA_PKCS1,
    RSA_PSS,
    SessionState,
    SignatureFormat,
    b64,
    check_certificate,
    check_raw_signature,
    from_client_cms,
    load_state,
    ranges_digest,
    signed_attributes,
    write_state,
)
from signer.signing import (
    CHUNK_SIZE,
    TSA_TIMEOUT_SECONDS,
    SignOptions,
    SignResult,
    _check_options,
    _copy_hashing,
    _describe,
    _free_field_name,
    _open_writer,
    _opened_source,
    _visible,
    signature_bytes_reserved,
    signature_metadata,
)
from signer.trust import is_development_mode

__all__ = [
    "PreparedSignature",
    "finish_remote_signature",
    "prepare_remote_signature",
    "state_path_for",
]


@dataclass(frozen=True)
class PreparedSignature:
    """What the client must sign, and where the service keeps the prepared document."""

    id: str
    field_name: str
    level: str
    document_digest: bytes
    to_be_signed: bytes
    to_be_signed_sha256: bytes
    algorithm: str
    accepted_algorithms: tuple[str, ...]
    created: datetime
    expires: datetime
    prepared_pdf: Path
    state_path: Path

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (binary values in base64)."""
        return {
            "id": self.id,
            "field_name": self.field_name,
            "level": self.level,
            "digest": base64.b64encode(self.document_digest).decode(),
            "to_be_signed": base64.b64encode(self.to_be_signed).decode(),
            "to_be_signed_sha256": base64.b64encode(self.to_be_signed_sha256).decode(),
            "algorithm": self.algorithm,
            "accepted_algorithms": list(self.accepted_algorithms),
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "prepared_pdf": str(self.prepared_pdf),
            "state": str(self.state_path),
        }


DEFAULT_OPTIONS = SignOptions()


def state_path_for(prepared_pdf: str | os.PathLike[str]) -> Path:
    """Where the state of a prepared PDF lives by default: beside it."""
    return Path(f"{os.fspath(prepared_pdf)}.remote.json")


def _finished_marker(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".finished")


def prepare_remote_signature(
    source: str | os.PathLike[str],
    prepared_output: str | os.PathLike[str],
    signer_certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    options: SignOptions = DEFAULT_OPTIONS,
    *,
    valid_for: timedelta = DEFAULT_VALIDITY,
    now: datetime | None = None,
    secret: bytes | None = None,
    state_path: str | os.PathLike[str] | None = None,
) -> PreparedSignature:
    """Write the PDF ready to receive a signature, and its state beside it; nothing is signed."""
    _check_options(options)
    now = now or datetime.now(UTC)
    check_certificate(signer_certificate, now)
    target = Path(prepared_output)
    state_file = Path(state_path) if state_path is not None else state_path_for(target)
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    registry.register_multiple(list(chain))
    external = ExternalSigner(signer_certificate, registry, prefer_pss=True)
    # The placeholder must fit the largest CMS our finish can build: size it as sign_pdf does.
    credential = Credential(signer=external, certificate=signer_certificate, chain=tuple(chain))
    reserved = signature_bytes_reserved(credential, options.level)

    descriptor, temp_name = temp_beside(target)
    try:
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, "w+b") as work, _opened_source(source) as source_stream:
            if _copy_hashing(source_stream, work, hashlib.sha256()) == 0:
                raise UnreadablePdfError("tệp đầu vào rỗng")
            writer = _open_writer(work)
            field_name = options.field_name or _free_field_name(writer)
            metadata = _metadata(options, field_name, signer_certificate)
            # Same visible appearance as sign_pdf: drawn now, so it is covered by the signature.
            style, field_spec = _visible(writer, work, field_name, credential, options)
            pdf_signer = PdfSigner(metadata, external, stamp_style=style, new_field_spec=field_spec)
            try:
                session = pdf_signer.init_signing_session(writer)
                tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=reserved)
                prepared, _ = tbs.digest_tbs_document(in_place=True, chunk_size=CHUNK_SIZE)
            except PyHankoSigningError as error:
                raise SigningError(
                    f"không chuẩn bị được văn bản để ký: {_describe(error)}"
                ) from None
            except (PdfError, ValueError, KeyError, TypeError) as error:
                raise UnreadablePdfError(f"không ký được tệp PDF: {_describe(error)}") from None
            work.flush()
            os.fsync(work.fileno())
            _, prepared_sha256 = ranges_digest(
                work, prepared.reserved_region_start, prepared.reserved_region_end
            )
        to_be_signed = signed_attributes(prepared.document_digest, signer_certificate)
        rsa_key = signer_certificate.public_key.algorithm == "rsa"
        fields: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "field_name": field_name,
            "level": options.level,
            "tsa_url": options.tsa_url,
            "document_digest": b64(prepared.document_digest),
            "reserved_region": [prepared.reserved_region_start, prepared.reserved_region_end],
            "prepared_sha256": prepared_sha256,
            "to_be_signed": b64(to_be_signed),
            "certificate": b64(signer_certificate.dump()),
            "chain": [b64(c.dump()) for c in chain],
            "algorithm": RSA_PSS if rsa_key else ECDSA,
            "accepted_algorithms": [RSA_PSS, RSA_PKCS1] if rsa_key else [ECDSA],
            "created": now.isoformat(),
            "expires": (now + valid_for).isoformat(),
        }
        # The PDF first: a state is only ever beside the PDF whose hash it records.
        os.replace(temp_name, target)
        _finished_marker(state_file).unlink(missing_ok=True)
        write_state(state_file, fields, secret)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return PreparedSignature(
        id=fields["id"],
        field_name=field_name,
        level=options.level,
        document_digest=prepared.document_digest,
        to_be_signed=to_be_signed,
        to_be_signed_sha256=hashlib.sha256(to_be_signed).digest(),
        algorithm=fields["algorithm"],
        accepted_algorithms=tuple(fields["accepted_algorithms"]),
        created=now,
        expires=now + valid_for,
        prepared_pdf=target,
        state_path=state_file,
    )


def _metadata(
    options: SignOptions, field_name: str, certificate: x509.Certificate
) -> PdfSignatureMetadata:
    """The signature dictionary sign_pdf would write, minus what only the finish can know."""
    common_name = certificate.subject.native.get("common_name")
    if isinstance(common_name, list):
        common_name = common_name[0] if common_name else None
    return signature_metadata(options, field_name, common_name)


def _read_prepared(prepared: Path, work: IO[bytes], state: SessionState) -> None:
    """Copy the prepared PDF into ``work`` and refuse it unless it is the one prepared."""
    try:
        with open(prepared, "rb") as source:
            _copy_hashing(source, work, hashlib.sha256())
    except OSError as error:
        raise UnreadablePdfError(f"không đọc được {prepared}: {error.strerror}") from None
    start, end = state.reserved_region
    document_digest, whole = ranges_digest(work, start, end)
    if whole != state.prepared_sha256 or document_digest != state.document_digest:
        raise SigningError(
            f"{prepared} không phải tệp đã chuẩn bị cho phiên ký {state.id} (đã bị thay đổi)"
        )


async def _complete(
    work: IO[bytes],
    state: SessionState,
    signature_cms: cms.ContentInfo,
    timestamper: HTTPTimeStamper | None,
    trust_roots: Sequence[x509.Certificate],
) -> None:
    """Embed the CMS, then add long-term validation data (B-LT) and an archive timestamp."""
    start, end = state.reserved_region
    digest = PreparedByteRangeDigest(state.document_digest, start, end)
    await PdfTBSDocument.async_finish_signing(work, digest, signature_cms, chunk_size=CHUNK_SIZE)
    if state.level not in ("b-lt", "b-lta"):
        return
    context = ValidationContext(
        trust_roots=list(trust_roots),
        allow_fetching=True,
        revocation_mode="hard-fail",
        fetcher_backend=fetcher_backend(development=is_development_mode()),
    )
    try:
        work.seek(0)
        embedded = PdfFileReader(work, strict=True).embedded_regular_signatures[-1]
        await async_add_validation_info(
            embedded, context, in_place=True, chunk_size=CHUNK_SIZE, embed_roots=False
        )
        if state.level == "b-lta" and timestamper is not None:
            work.seek(0)
            writer = IncrementalPdfFileWriter(work, strict=True)
            await PdfTimeStamper(timestamper).async_timestamp_pdf(
                writer, "sha256", context, in_place=True, chunk_size=CHUNK_SIZE, embed_roots=False
            )
    finally:
        await context.aclose()  # type: ignore[no-untyped-call]


def _claim(marker: Path, state: SessionState) -> None:
    """Mark the state used, atomically: of two concurrent finishes only one proceeds."""
    try:
        descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise SigningError(
            f"phiên ký {state.id} đã hoàn tất trước đó; mỗi lần chuẩn bị chỉ ký được một lần"
        ) from None
    os.close(descriptor)


def finish_remote_signature(
    prepared_pdf: str | os.PathLike[str],
    state: str | os.PathLike[str] | None,
    signature: bytes,
    output: str | os.PathLike[str],
    *,
    signature_format: SignatureFormat = "raw",
    tsa_url: str | None = None,
    trust_roots: Sequence[x509.Certificate] = (),
    now: datetime | None = None,
    secret: bytes | None = None,
) -> SignResult:
    """Embed the client's signature into the prepared PDF; nothing is written unless it verifies.

    ``signature`` is the raw signature over the prepared signed attributes, or (with
    ``signature_format="cms"``) a whole CMS SignedData. A state finishes once: a second finish
    is refused, so one preparation gives exactly one signed document.
    """
    prepared = Path(prepared_pdf)
    state_file = Path(state) if state is not None else state_path_for(prepared)
    loaded = load_state(state_file, secret)
    now = now or datetime.now(UTC)
    if now > loaded.expires:
        raise SigningError(
            f"phiên ký {loaded.id} đã hết hạn lúc {loaded.expires.isoformat()}; hãy chuẩn bị lại"
        )
    marker = _finished_marker(state_file)
    if marker.exists():
        _claim(marker, loaded)  # raises the clear "already finished" error
    if signature_format == "cms":
        attributes_der, raw = from_client_cms(signature, loaded)
    elif signature_format == "raw":
        attributes_der, raw = loaded.to_be_signed, signature
    else:
        raise SigningError(f"định dạng chữ ký không hỗ trợ {signature_format!r}")
    mechanism, raw = check_raw_signature(loaded.certificate, attributes_der, raw)

    tsa_url = tsa_url or loaded.tsa_url
    if loaded.level != "b-b" and not tsa_url:
        raise SigningError(f"mức {loaded.level} cần địa chỉ dịch vụ cấp dấu thời gian (tsa_url)")
    if loaded.level in ("b-lt", "b-lta") and not trust_roots:
        raise SigningError(f"mức {loaded.level} cần chứng thư gốc tin cậy (trust roots)")
    timestamper = None
    if loaded.level != "b-b" and tsa_url:
        tsa_url = service_url(tsa_url, development=is_development_mode())
        timestamper = HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS)

    target = Path(output)
    descriptor, temp_name = temp_beside(target)
    claimed = False
    try:
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, "w+b") as work:
            _read_prepared(prepared, work, loaded)
            registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
            registry.register_multiple(list(loaded.chain))
            external = ExternalSigner(
                loaded.certificate, registry, signature_value=raw, signature_mechanism=mechanism
            )
            attributes = cms.CMSAttributes.load(attributes_der)
            try:
                signature_cms = asyncio.run(
                    external.async_sign_prescribed_attributes(
                        "sha256", attributes, timestamper=timestamper
                    )
                )
            except (TimestampRequestError, PyHankoSigningError) as error:
                raise TrustServiceError(
                    f"không lấy được dấu thời gian từ {tsa_url}: {_describe(error)}"
                ) from None
            start, end = loaded.reserved_region
            if 2 * len(signature_cms.dump()) > end - start - 2:
                raise SigningError("chữ ký gửi về lớn hơn chỗ đã dành trong văn bản")
            _claim(marker, loaded)
            claimed = True
            try:
                asyncio.run(_complete(work, loaded, signature_cms, timestamper, trust_roots))
            except TimestampRequestError as error:
                raise TrustServiceError(
                    f"không kết nối được dịch vụ cấp dấu thời gian {tsa_url}: {_describe(error)}"
                ) from None
            except (PathError, ValidationError, PyHankoSigningError) as error:
                raise SigningError(
                    f"không thu thập được dữ liệu thu hồi cho chữ ký: {_describe(error)}"
                ) from None
            except (PdfError, ValueError, KeyError, TypeError) as error:
                raise UnreadablePdfError(f"không ký được tệp PDF: {_describe(error)}") from None
            work.flush()
            os.fsync(work.fileno())
            work.seek(0)
            digest = hashlib.sha256()
            size = 0
            while chunk := work.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        if claimed:
            marker.unlink(missing_ok=True)  # nothing was produced: the state may be finished again
        raise
    record = {"finished": now.isoformat(), "output": str(target), "sha256": digest.hexdigest()}
    marker.write_text(json.dumps(record))
    return SignResult(
        field_name=loaded.field_name,
        level=loaded.level,  # type: ignore[arg-type]
        digest_sha256=digest.hexdigest(),
        size=size,
    )
