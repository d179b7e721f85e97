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

from asn1crypto import algos, cms, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import ExternalSigner, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signer.devpki import BUILT_IN_DEV_SERVICES, DevServices
from signer.errors import SigningError, UnreadablePdfError
from signer.files import atomic_output
from signer.keys import Credential
from signer.pades import (
    CHUNK_SIZE,
    DEFAULT_OPTIONS,
    Level,
    SigningStep,
    SignOptions,
    SignResult,
    check_options,
    copy_hashing,
    embed_validation_info,
    free_field_name,
    hash_rest,
    open_writer,
    opened_source,
    require_services,
    revocation_context,
    signature_bytes_reserved,
    signature_metadata,
    signing_errors,
    timestamp_service,
    visible_signature,
)
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
    level: Level
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
            "level": self.level.value,
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
    level = check_options(options)
    now = now or datetime.now(UTC)
    check_certificate(signer_certificate, now)
    target = Path(prepared_output)
    state_file = Path(state_path) if state_path is not None else state_path_for(target)
    credential = _key_elsewhere(signer_certificate, chain)
    with atomic_output(target) as work, opened_source(source) as stream:
        field_name, tbs = _prepare_document(stream, work, credential, options, level)
        start, end = tbs.reserved_region_start, tbs.reserved_region_end
        _, prepared_sha256 = ranges_digest(work, start, end)
    to_be_signed = signed_attributes(tbs.document_digest, signer_certificate)
    algorithms = _accepted_algorithms(signer_certificate)
    prepared = PreparedSignature(
        id=uuid.uuid4().hex,
        field_name=field_name,
        level=level,
        document_digest=tbs.document_digest,
        to_be_signed=to_be_signed,
        to_be_signed_sha256=hashlib.sha256(to_be_signed).digest(),
        algorithm=algorithms[0],
        accepted_algorithms=algorithms,
        created=now,
        expires=now + valid_for,
        prepared_pdf=target,
        state_path=state_file,
    )
    # The PDF first (above): a state is only ever beside the PDF whose hash it records.
    _finished_marker(state_file).unlink(missing_ok=True)
    fields = _state_fields(
        prepared, signer_certificate, chain, options.tsa_url, (start, end), prepared_sha256
    )
    write_state(state_file, fields, secret)
    return prepared


def _state_fields(
    prepared: PreparedSignature,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    tsa_url: str | None,
    reserved_region: tuple[int, int],
    prepared_sha256: str,
) -> dict[str, Any]:
    """What the state file records of a preparation (remote_session.py reads it back)."""
    return {
        "id": prepared.id,
        "field_name": prepared.field_name,
        "level": prepared.level.value,
        "tsa_url": tsa_url,
        "document_digest": b64(prepared.document_digest),
        "reserved_region": list(reserved_region),
        "prepared_sha256": prepared_sha256,
        "to_be_signed": b64(prepared.to_be_signed),
        "certificate": b64(certificate.dump()),
        "chain": [b64(c.dump()) for c in chain],
        "algorithm": prepared.algorithm,
        "accepted_algorithms": list(prepared.accepted_algorithms),
        "created": prepared.created.isoformat(),
        "expires": prepared.expires.isoformat(),
    }


def _key_elsewhere(certificate: x509.Certificate, chain: Sequence[x509.Certificate]) -> Credential:
    """The signer as a credential whose key stays on the client's token: it signs nothing.

    With it the document is prepared, and the placeholder sized for the largest CMS our finish
    can build, exactly as sign_pdf does.
    """
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    registry.register_multiple(list(chain))
    external = ExternalSigner(certificate, registry, prefer_pss=True)
    return Credential(signer=external, certificate=certificate, chain=tuple(chain))


def _accepted_algorithms(certificate: x509.Certificate) -> tuple[str, ...]:
    """The signature algorithms the finish accepts from the client, the preferred one first."""
    return (RSA_PSS, RSA_PKCS1) if certificate.public_key.algorithm == "rsa" else (ECDSA,)


def _prepare_document(
    source: IO[bytes], work: IO[bytes], credential: Credential, options: SignOptions, level: Level
) -> tuple[str, PreparedByteRangeDigest]:
    """Copy ``source`` into ``work`` and add the signature field, dictionary and placeholder."""
    if copy_hashing(source, work, hashlib.sha256()) == 0:
        raise UnreadablePdfError("tệp đầu vào rỗng")
    writer = open_writer(work)
    field_name = options.field_name or free_field_name(writer)
    metadata = signature_metadata(options, field_name, credential.common_name)
    # Same visible appearance as sign_pdf: drawn now, so it is covered by the signature.
    style, field_spec = visible_signature(writer, work, field_name, credential, options)
    signer = PdfSigner(metadata, credential.signer, stamp_style=style, new_field_spec=field_spec)
    reserved = signature_bytes_reserved(credential, level)
    with signing_errors(SigningStep.PREPARE):
        session = signer.init_signing_session(writer)
        tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=reserved)
        prepared, _ = tbs.digest_tbs_document(in_place=True, chunk_size=CHUNK_SIZE)
    return field_name, prepared


def _read_prepared(prepared: Path, work: IO[bytes], state: SessionState) -> None:
    """Copy the prepared PDF into ``work`` and refuse it unless it is the one prepared."""
    try:
        with open(prepared, "rb") as source:
            copy_hashing(source, work, hashlib.sha256())
    except OSError as error:
        raise UnreadablePdfError(f"không đọc được {prepared}: {error.strerror}") from None
    start, end = state.reserved_region
    document_digest, whole = ranges_digest(work, start, end)
    if whole != state.prepared_sha256 or document_digest != state.document_digest:
        raise SigningError(
            f"{prepared} không phải tệp đã chuẩn bị cho phiên ký {state.id} (đã bị thay đổi)"
        )


def _unfinished_state(state_file: Path, secret: bytes | None, now: datetime) -> SessionState:
    """The state of a preparation that may still be finished: sealed, not expired, not used."""
    loaded = load_state(state_file, secret)
    if now > loaded.expires:
        raise SigningError(
            f"phiên ký {loaded.id} đã hết hạn lúc {loaded.expires.isoformat()}; hãy chuẩn bị lại"
        )
    marker = _finished_marker(state_file)
    if marker.exists():
        _claim(marker, loaded)  # raises the clear "already finished" error
    return loaded


def _client_signature(
    signature: bytes, signature_format: SignatureFormat, state: SessionState
) -> tuple[bytes, bytes]:
    """The signed attributes (DER) and the raw signature value the client sent back."""
    if signature_format == "cms":
        return from_client_cms(signature, state)
    if signature_format == "raw":
        return state.to_be_signed, signature
    raise SigningError(f"định dạng chữ ký không hỗ trợ {signature_format!r}")


def _signature_cms(
    state: SessionState,
    attributes_der: bytes,
    raw: bytes,
    mechanism: algos.SignedDigestAlgorithm,
    timestamper: HTTPTimeStamper | None,
    tsa_url: str | None,
) -> cms.ContentInfo:
    """The CMS around the client's signature, timestamped from B-T up; it must fit the room."""
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    registry.register_multiple(list(state.chain))
    external = ExternalSigner(
        state.certificate, registry, signature_value=raw, signature_mechanism=mechanism
    )
    attributes = cms.CMSAttributes.load(attributes_der)
    with signing_errors(SigningStep.TIMESTAMP, tsa_url):
        signature_cms: cms.ContentInfo = asyncio.run(
            external.async_sign_prescribed_attributes("sha256", attributes, timestamper=timestamper)
        )
    start, end = state.reserved_region
    if 2 * len(signature_cms.dump()) > end - start - 2:
        raise SigningError("chữ ký gửi về lớn hơn chỗ đã dành trong văn bản")
    return signature_cms


async def _complete(
    work: IO[bytes],
    state: SessionState,
    signature_cms: cms.ContentInfo,
    timestamper: HTTPTimeStamper | None,
    trust_roots: Sequence[x509.Certificate],
    fetching: tuple[bool, DevServices],
) -> None:
    """Embed the CMS, then add long-term validation data (B-LT) and an archive timestamp.

    `fetching`: whether this is development, and where the development services answer.
    """
    start, end = state.reserved_region
    digest = PreparedByteRangeDigest(state.document_digest, start, end)
    await PdfTBSDocument.async_finish_signing(work, digest, signature_cms, chunk_size=CHUNK_SIZE)
    if not state.level.needs_revocation_data:
        return
    development, dev_services = fetching
    context = revocation_context(trust_roots, development=development, dev_services=dev_services)
    try:
        await embed_validation_info(work, context, -1)
        if state.level.is_lta and timestamper is not None:
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
    development: bool = False,
    dev_services: DevServices = BUILT_IN_DEV_SERVICES,
) -> SignResult:
    """Embed the client's signature into the prepared PDF; nothing is written unless it verifies.

    ``signature`` is the raw signature over the prepared signed attributes, or (with
    ``signature_format="cms"``) a whole CMS SignedData. A state finishes once: a second finish
    is refused, so one preparation gives exactly one signed document. In ``development``,
    requests to the built-in development address go to ``dev_services``; off by default.
    """
    prepared = Path(prepared_pdf)
    state_file = Path(state) if state is not None else state_path_for(prepared)
    now = now or datetime.now(UTC)
    loaded = _unfinished_state(state_file, secret, now)
    attributes_der, raw = _client_signature(signature, signature_format, loaded)
    mechanism, raw = check_raw_signature(loaded.certificate, attributes_der, raw)
    tsa_url = tsa_url or loaded.tsa_url
    require_services(loaded.level, tsa_url, trust_roots, roots_for="")
    tsa_url, timestamper = timestamp_service(
        loaded.level, tsa_url, development=development, dev_services=dev_services
    )

    target, marker = Path(output), _finished_marker(state_file)
    claimed = False
    try:
        with atomic_output(target) as work:
            _read_prepared(prepared, work, loaded)
            cms_ = _signature_cms(loaded, attributes_der, raw, mechanism, timestamper, tsa_url)
            _claim(marker, loaded)
            claimed = True
            with signing_errors(SigningStep.LONG_TERM, tsa_url):
                fetching = (development, dev_services)
                asyncio.run(_complete(work, loaded, cms_, timestamper, trust_roots, fetching))
            work.seek(0)
            digest = hashlib.sha256()
            size = hash_rest(work, digest)
    except BaseException:
        if claimed:
            marker.unlink(missing_ok=True)  # nothing was produced: the state may be finished again
        raise
    record = {"finished": now.isoformat(), "output": str(target), "sha256": digest.hexdigest()}
    marker.write_text(json.dumps(record))
    return SignResult(
        field_name=loaded.field_name,
        level=loaded.level,
        digest_sha256=digest.hexdigest(),
        size=size,
    )
