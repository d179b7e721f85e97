"""An official signs with a USB token on their own computer: prepare here, sign there, finish here.

The service writes the draft ready for the signature and the data to sign (the signed attributes);
the official's software signs them with the token and sends the signature back; the service checks
it against the prepared document and the official's certificate and embeds it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any, Literal

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import Session

from exchange import audit
from exchange.actors import Actor
from exchange.enums import DocumentState, Role
from exchange.errors import ConflictError, ValidationError
from exchange.models import User
from exchange.runtime import Runtime
from exchange.services.credentials import signer_errors
from exchange.services.documents import (
    OFFICIAL_FIELD,
    official_appearance,
    own_document,
    record_official_signature,
    remember_file,
)
from signer.appearance import load_image
from signer.remote import finish_remote_signature, prepare_remote_signature
from signer.signing import SignOptions


def _session_paths(runtime: Runtime, public_id: str) -> tuple[Path, Path]:
    folder = runtime.store.scratch_dir().parent / "token-signing"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{public_id}.pdf", folder / f"{public_id}.state.json"


def _secret(runtime: Runtime) -> bytes:
    return hashlib.sha256(
        b"congvan token signing\0" + runtime.settings.secret_key.encode()
    ).digest()


def _certificate(data: str) -> asn1_x509.Certificate:
    """A certificate sent as PEM text or base64 DER."""
    try:
        raw = data.encode()
        der = pem.unarmor(raw)[2] if pem.detect(raw) else base64.b64decode(data, validate=True)
        certificate = asn1_x509.Certificate.load(der)
        certificate.native  # noqa: B018 - parses every field now, so bad input fails here
        return certificate
    except (ValueError, TypeError, binascii.Error):
        raise ValidationError(
            "chứng thư số không đọc được (gửi PEM hoặc DER mã hóa base64)",
            errors={"certificate": "không đọc được"},
        ) from None


def prepare_token_signature(
    session: Session, runtime: Runtime, actor: Actor, public_id: str, certificate: str
) -> dict[str, Any]:
    """Prepare the draft for the official's token; return what the token must sign."""
    actor.require(Role.OFFICIAL)
    document = own_document(session, actor, public_id, lock=True)
    if document.state is not DocumentState.DRAFT:
        raise ConflictError(f"văn bản đã qua bước ký (trạng thái: {document.state.value})")
    signer_certificate = _certificate(certificate)
    user = session.get(User, actor.user_id)
    assert user is not None
    image = load_image(Path(user.signature_image)) if user.signature_image else None
    options = SignOptions(
        level="b-t",
        field_name=OFFICIAL_FIELD,
        reason="Phê duyệt văn bản",
        location=document.agency.name,
        signer_name=user.full_name,
        tsa_url=runtime.settings.effective_tsa_url,
        appearance=official_appearance(document, image),
    )
    prepared_pdf, state = _session_paths(runtime, public_id)
    with signer_errors():
        prepared = prepare_remote_signature(
            runtime.store.local_path(document.current_file),
            prepared_pdf,
            signer_certificate,
            options=options,
            now=runtime.now(),
            secret=_secret(runtime),
            state_path=state,
        )
    audit.record(
        session,
        "document.sign.prepare",
        actor=actor,
        document_id=document.public_id,
        details={"session": prepared.id, "certificate": signer_certificate.subject.human_friendly},
    )
    session.commit()
    view = prepared.to_dict()
    for local in ("prepared_pdf", "state"):  # server paths are not the client's business
        view.pop(local)
    return view


def finish_token_signature(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    public_id: str,
    signature: str,
    signature_format: Literal["raw", "cms"] = "raw",
) -> None:
    """Embed the token's signature; the draft becomes signed."""
    actor.require(Role.OFFICIAL)
    document = own_document(session, actor, public_id, lock=True)
    if document.state is not DocumentState.DRAFT:
        raise ConflictError(f"văn bản đã qua bước ký (trạng thái: {document.state.value})")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise ValidationError(
            "chữ ký phải mã hóa base64", errors={"signature": "không phải base64"}
        ) from None
    if signature_format not in ("raw", "cms"):
        raise ValidationError("định dạng chữ ký là raw hoặc cms", errors={"format": "không hợp lệ"})
    prepared_pdf, state = _session_paths(runtime, public_id)
    if not state.exists():
        raise ConflictError("chưa chuẩn bị ký bằng token cho văn bản này (gọi prepare trước)")
    output = prepared_pdf.with_suffix(".signed.pdf")
    try:
        with signer_errors():
            result = finish_remote_signature(
                prepared_pdf,
                state,
                raw,
                output,
                signature_format=signature_format,
                now=runtime.now(),
                secret=_secret(runtime),
            )
        sha256, size = runtime.store.put_file(output)
    finally:
        output.unlink(missing_ok=True)
    remember_file(session, sha256, size)
    document.current_file = sha256
    user = session.get(User, actor.user_id)
    assert user is not None
    record_official_signature(
        session,
        runtime,
        actor,
        document,
        user,
        result,
        sha256,
        signer_name=user.full_name,
        token=True,
    )
    session.commit()
    prepared_pdf.unlink(missing_ok=True)
