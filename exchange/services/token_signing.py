"""An official signs with a USB token on their own computer: prepare here, sign there, finish here.

The service writes the draft ready for the signature and the data to sign (the signed attributes);
the official's software signs them with the token and sends the signature back; the service checks
it against the prepared document and the official's certificate and embeds it.

Between the two steps the prepared PDF and its state are kept in the file store (by name, under
token-signing/), not in a folder of the process that prepared them: the finish may come to any
web process, on any machine, that shares the database and the store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import Session

from exchange import audit
from exchange.actors import Actor
from exchange.enums import DocumentState, Role
from exchange.errors import ConflictError, NotFoundError, ValidationError
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


def _stored_names(public_id: str) -> tuple[str, str]:
    """The names the store keeps a prepared document and its state under until the finish."""
    return f"token-signing/{public_id}.pdf", f"token-signing/{public_id}.state.json"


@contextmanager
def _work_folder(runtime: Runtime) -> Iterator[Path]:
    """A private folder for this step's files, removed afterwards."""
    folder = Path(tempfile.mkdtemp(dir=runtime.store.scratch_dir(), prefix="token-signing-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
        development=runtime.settings.development,
        dev_services=runtime.settings.dev_services,
        appearance=official_appearance(document, image),
    )
    pdf_name, state_name = _stored_names(public_id)
    with _work_folder(runtime) as work:
        prepared_pdf, state = work / "prepared.pdf", work / "state.json"
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
        # The PDF first: a state is only ever kept beside the PDF whose hash it records.
        runtime.store.put_named(pdf_name, prepared_pdf)
        runtime.store.put_named(state_name, state)
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
    pdf_name, state_name = _stored_names(public_id)
    try:
        prepared_pdf = runtime.store.named_path(pdf_name)
        stored_state = runtime.store.named_path(state_name)
    except NotFoundError:
        raise ConflictError(
            "chưa chuẩn bị ký bằng token cho văn bản này (gọi prepare trước)"
        ) from None
    output = runtime.store.scratch_dir() / f"{uuid.uuid4().hex}.signed.pdf"
    try:
        with _work_folder(runtime) as work:
            # A copy: the library marks the state it finished beside it, here and not in the store.
            state = work / "state.json"
            shutil.copyfile(stored_state, state)
            with signer_errors():
                result = finish_remote_signature(
                    prepared_pdf,
                    state,
                    raw,
                    output,
                    signature_format=signature_format,
                    now=runtime.now(),
                    secret=_secret(runtime),
                    development=runtime.settings.development,
                    dev_services=runtime.settings.dev_services,
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
    runtime.store.delete_named(pdf_name)
    runtime.store.delete_named(state_name)
