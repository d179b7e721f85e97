"""An agency's outgoing documents: the draft, the official's signature, the clerk's issue.

Sending and recalling are in exchange/services/sending.py.

Each use case takes the Session first, checks who acts, changes the rows, records the audit event
and commits once. Files are written to the store before the commit that refers to them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import audit
from exchange.actors import Actor
from exchange.db import dialect_insert, utcnow
from exchange.enums import BusinessType, DocumentState, Role
from exchange.errors import (
    ConflictError,
    NotFoundError,
    UnsupportedFileError,
    ValidationError,
)
from exchange.models import Document, Signature, StoredFile, User
from exchange.runtime import Runtime
from exchange.services.credentials import (
    SIGNATURE_BOX_FORMAT,
    agency_credential,
    official_credential,
    signer_errors,
)
from exchange.services.registers import DatabaseNumberSource
from signer.appearance import (
    Appearance,
    Placement,
    PreparedImage,
    format_placement,
    load_image,
    page_box,
    parse_placement,
    placement_problem,
)
from signer.errors import (
    BlankPlacementError,
    BlanksNotFoundError,
    EncryptedPdfError,
    PasswordProtectedError,
)
from signer.fields import DAY_FIELD, MONTH_FIELD, NUMBER_FIELD
from signer.issuing import Blank, issue_document, prepare_draft, vietnam_date
from signer.layout import find_layout
from signer.messages import PASSWORD_PROTECTED
from signer.signing import SignOptions, SignResult, sign_pdf

CLASSIFIED = frozenset({"mật", "tối mật", "tuyệt mật"})
UNCLASSIFIED = frozenset({"", "thường", "không mật"})
OFFICIAL_FIELD = "ChuKyLanhDao"
# The columns' sizes (exchange/models.py): longer text is a field error, never a database error.
LENGTH_LIMITS = {
    "document_type": 64,
    "notation": 64,
    "subject": 4000,
    "signer_name": 255,
    "signer_title": 255,
    "recipients_text": 4000,
    "reply_to": 36,
    "supersedes": 36,
}
AGENCY_FIELD = "ChuKyCoQuan"
# Upload fields that give a blank's box by hand, and the workflow field each one is for.
BOX_FIELDS = {"number_box": NUMBER_FIELD, "day_box": DAY_FIELD, "month_box": MONTH_FIELD}
BOX_HINT = (
    "gửi kèm vị trí các ô trong trường number_box, day_box, month_box: x,y,rộng,cao tính bằng "
    "point từ góc dưới bên trái trang 1"
)


@dataclass(frozen=True)
class DraftInput:
    """The metadata of Decree 30 Art. 8 a drafter gives with the file."""

    document_type: str
    subject: str
    notation: str = ""
    urgency: int = 0
    due_date: date | None = None
    steering_type: int = 0
    reply_to: str | None = None
    supersedes: str | None = None
    business_type: int = int(BusinessType.NEW)
    signer_name: str = ""
    signer_title: str = ""
    recipients_text: str = ""
    classification: str = ""


def check_draft_input(data: DraftInput) -> None:
    """Refuse metadata a document may not carry; field errors name each problem."""
    errors: dict[str, str] = {}
    if not data.document_type.strip():
        errors["document_type"] = "cần ghi loại văn bản"
    if not data.subject.strip():
        errors["subject"] = "cần ghi trích yếu"
    for name, limit in LENGTH_LIMITS.items():
        if len(getattr(data, name) or "") > limit:
            errors[name] = f"dài quá {limit} ký tự"
    if not 0 <= data.urgency <= 4:
        errors["urgency"] = "độ khẩn là 0 (thường) đến 4 (hỏa tốc hẹn giờ)"
    if not 0 <= data.steering_type <= 2:
        errors["steering_type"] = "loại chỉ đạo là 0, 1 hoặc 2"
    if data.business_type not in (BusinessType.NEW, BusinessType.UPDATE, BusinessType.REPLACE):
        errors["business_type"] = "loại nghiệp vụ là 0 (mới), 2 (cập nhật) hoặc 3 (thay thế)"
    elif data.business_type != BusinessType.NEW and not data.supersedes:
        errors["supersedes"] = "văn bản cập nhật hay thay thế phải chỉ ra văn bản gốc"
    classification = data.classification.strip().lower()
    if classification in CLASSIFIED:
        raise ValidationError(
            f"văn bản {classification} không được gửi qua hệ thống này (Nghị định 30/2020)",
            errors={"classification": "văn bản mật không được gửi qua hệ thống"},
        )
    if classification not in UNCLASSIFIED:
        errors["classification"] = "độ mật không hợp lệ"
    if errors:
        raise ValidationError("thông tin văn bản chưa hợp lệ", errors=errors)


def _page_count(path: Path) -> int:
    """Pages of a readable PDF; UnsupportedFileError otherwise.

    A file encrypted with an owner password only opens as in any viewer (a draft is then
    rewritten unencrypted by prepare_draft; a document signed elsewhere is kept as it is); one
    that needs a password to open is a field error.
    """
    with path.open("rb") as handle:
        if handle.read(5) != b"%PDF-":
            raise UnsupportedFileError("tệp tải lên không phải PDF")
        handle.seek(0)
        try:
            reader = PdfFileReader(handle, strict=False)
            if reader.encrypted and reader.decrypt("").status == AuthStatus.FAILED:
                raise ValidationError(PASSWORD_PROTECTED, errors={"file": PASSWORD_PROTECTED})
            return int(reader.root["/Pages"]["/Count"])
        except ValidationError:
            raise
        except (PdfError, ValueError, KeyError, TypeError, IndexError, RecursionError):
            raise UnsupportedFileError(
                "không đọc được tệp PDF (tệp hỏng hoặc sai định dạng)"
            ) from None


@contextlib.contextmanager
def _scratch(runtime: Runtime, suffix: str = ".pdf") -> Iterator[Path]:
    descriptor, name = tempfile.mkstemp(dir=runtime.store.scratch_dir(), suffix=suffix)
    path = Path(name)
    try:
        os.close(descriptor)
        yield path
    finally:
        path.unlink(missing_ok=True)


def remember_file(session: Session, sha256: str, size: int) -> None:
    """Record a stored file's row now (rows refer to it by key alone); one row however many
    requests store the same bytes at once."""
    insert = dialect_insert(session)
    session.execute(
        insert(StoredFile)
        .values(sha256=sha256, size=size, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["sha256"])
    )


def own_document(session: Session, actor: Actor, public_id: str, *, lock: bool = False) -> Document:
    """The actor's agency's document; NotFound for anyone else's (no hint that it exists)."""
    query = select(Document).where(Document.public_id == public_id)
    if lock:
        query = query.with_for_update()
    document = session.scalars(query).one_or_none()
    if document is None or document.agency_id != actor.agency_id:
        raise NotFoundError(f"không tìm thấy văn bản {public_id} của cơ quan")
    return document


def _linked(session: Session, actor: Actor, public_id: str | None, field: str) -> Document | None:
    """A document the actor's agency sent or received, to reply to or supersede."""
    if not public_id:
        return None
    document = session.scalars(select(Document).where(Document.public_id == public_id)).first()
    if document is not None and document.agency_id == actor.agency_id:
        return document
    if document is not None and any(
        delivery.recipient_id == actor.agency_id for delivery in document.deliveries
    ):
        return document
    raise ValidationError(
        f"không tìm thấy văn bản {public_id}", errors={field: "văn bản không tồn tại"}
    )


def create_document(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    upload: IO[bytes],
    data: DraftInput,
    *,
    idempotency_key: str | None = None,
    issued_elsewhere: bool = False,
    given_blanks: Mapping[str, Blank] | None = None,
    signature_box: Placement | None = None,
) -> Document:
    """Store an uploaded PDF as a draft, with blanks for the number and date the issue fills.

    ``given_blanks`` (keys from BOX_FIELDS) places blanks by hand where page 1 shows none;
    ``signature_box`` is where the official signs (and the seal goes) when the text shows no
    signer block: a draft with neither cannot be signed, so it is refused here.

    ``issued_elsewhere``: the clerk brings in a document already signed by the official and the
    agency outside the service (the agency's USB token at the clerical office), ready to send;
    its number and notation are the ones printed on it (``data.notation``). The sender does not
    judge its signatures: every receiving side verifies it before a clerk sees it.
    """
    if issued_elsewhere:
        actor.require(Role.CLERK)
    else:
        actor.require(Role.SPECIALIST, Role.CLERK, Role.OFFICIAL)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 128:
            raise ValidationError("Idempotency-Key dài 1 đến 128 ký tự")
        existing = _by_idempotency_key(session, actor, idempotency_key)
        if existing is not None:
            return existing
    check_draft_input(data)
    given_blanks = dict(given_blanks or {})
    if set(given_blanks) - set(BOX_FIELDS):
        raise ValueError(f"unknown blank fields: {sorted(set(given_blanks) - set(BOX_FIELDS))}")
    if issued_elsewhere and (given_blanks or signature_box is not None):
        fields = [*given_blanks, *(["signature_box"] if signature_box is not None else [])]
        raise ValidationError(
            "văn bản đã ban hành không cần vị trí ô số, ngày hay chữ ký",
            errors={name: "chỉ dùng cho dự thảo" for name in fields},
        )
    if issued_elsewhere and not data.notation.strip():
        raise ValidationError(
            "văn bản đã ban hành phải ghi số và ký hiệu", errors={"notation": "cần ghi số, ký hiệu"}
        )
    reply_to = _linked(session, actor, data.reply_to, "reply_to")
    supersedes = _linked(session, actor, data.supersedes, "supersedes")
    if supersedes is not None and supersedes.agency_id != actor.agency_id:
        raise ValidationError(
            "chỉ cập nhật hay thay thế được văn bản của chính cơ quan",
            errors={"supersedes": "không phải văn bản của cơ quan"},
        )
    original_sha, original_size = runtime.store.put(
        upload, max_bytes=runtime.settings.max_upload_bytes
    )
    original = runtime.store.local_path(original_sha)
    pages = _page_count(original)
    remember_file(session, original_sha, original_size)
    current_sha = original_sha
    if not issued_elsewhere:
        with _scratch(runtime) as prepared:
            try:
                with signer_errors():
                    _prepare(original, prepared, given_blanks)
                    _check_signature_place(prepared, pages, signature_box)
            except ConflictError as error:
                # No blanks for the number and date: not a draft in the official layout.
                raise ValidationError(
                    f"{error.detail}; hãy dùng dự thảo theo thể thức Nghị định 30/2020",
                    errors={"file": "thiếu chỗ trống cho số và ngày ban hành"},
                ) from None
            current_sha, prepared_size = runtime.store.put_file(prepared)
        remember_file(session, current_sha, prepared_size)
    document = Document(
        public_id=str(uuid.uuid4()),
        agency_id=actor.agency_id,
        created_by_id=actor.user_id,
        idempotency_key=idempotency_key,
        state=DocumentState.ISSUED if issued_elsewhere else DocumentState.DRAFT,
        issued_at=runtime.now() if issued_elsewhere else None,
        issued_by_id=actor.user_id if issued_elsewhere else None,
        document_type=data.document_type.strip(),
        notation=data.notation.strip(),
        subject=data.subject.strip(),
        urgency=data.urgency,
        due_date=data.due_date,
        steering_type=data.steering_type,
        business_type=data.business_type,
        reply_to=reply_to,
        supersedes=supersedes,
        page_count=pages,
        signer_name=data.signer_name.strip(),
        signer_title=data.signer_title.strip(),
        recipients_text=data.recipients_text.strip(),
        signature_box=format_placement(signature_box) if signature_box is not None else None,
        original_file=original_sha,
        current_file=current_sha,
    )
    session.add(document)
    try:
        session.flush()  # a request racing in with the same key fails here, or at the commit
        audit.record(
            session,
            "document.import" if issued_elsewhere else "document.draft",
            actor=actor,
            document_id=document.public_id,
            details={"file": original_sha, "subject": document.subject},
        )
        session.commit()
    except IntegrityError:
        # The same key raced in from another request: answer with the document it created.
        session.rollback()
        existing = _by_idempotency_key(session, actor, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing
    return document


def _prepare(original: Path, prepared: Path, given_blanks: Mapping[str, Blank]) -> None:
    """prepare_draft, its refusals told as errors on the upload's fields."""
    given = {BOX_FIELDS[name]: blank for name, blank in given_blanks.items()}
    try:
        prepare_draft(original, prepared, given=given or None)
    except BlankPlacementError as error:
        name = next(form for form, field in BOX_FIELDS.items() if field == error.field)
        raise ValidationError(str(error), errors={name: str(error)}) from None
    except BlanksNotFoundError as error:
        raise ValidationError(
            f"{error}: {BOX_HINT}", errors={"file": "thiếu chỗ trống cho số và ngày ban hành"}
        ) from None
    except (PasswordProtectedError, EncryptedPdfError) as error:
        # A password, or encryption that cannot be removed: the file itself is to change.
        raise ValidationError(str(error), errors={"file": str(error)}) from None


def _check_signature_place(draft: Path, pages: int, place: Placement | None) -> None:
    """The official can sign: the text shows a signer block, or ``place`` is given (not both).

    Field errors on `signature_box` otherwise: a place that is off the document, one given where
    the signer block decides, none where there is no signer block.
    """
    layout = find_layout(draft)
    block = layout.signature_gap if layout.signer_page is not None else None
    if place is None:
        if block is None:
            raise ValidationError(
                "không tìm thấy khối chữ ký (chức vụ và họ tên người ký) trong văn bản (văn bản "
                "quét hoặc bố cục khác thể thức): gửi kèm vị trí chữ ký của lãnh đạo trong trường "
                f"signature_box, {SIGNATURE_BOX_FORMAT}",
                errors={"signature_box": "cần vị trí chữ ký: văn bản không có khối chữ ký"},
            )
        return
    problem: str | None
    if block is not None:
        problem = (
            f"văn bản đã có khối chữ ký ở trang {(layout.signer_page or 0) + 1}: chữ ký đặt vào "
            "khoảng trống giữa chức vụ và họ tên người ký; bỏ trường signature_box"
        )
    else:
        with draft.open("rb") as handle:
            reader = PdfFileReader(handle, strict=False)
            box = page_box(reader, place.page) if place.page < pages else None
        problem = placement_problem(place, pages, box)
    if problem is not None:
        message = f"vị trí chữ ký không dùng được: {problem}"
        raise ValidationError(message, errors={"signature_box": message})


def signature_place(document: Document) -> Placement | None:
    """The place given for the official's signature on upload, if any."""
    return parse_placement(document.signature_box) if document.signature_box else None


def official_appearance(document: Document, image: PreparedImage | None) -> Appearance:
    """The official's visible signature: in the signer block, else where the upload said."""
    return Appearance("official", image=image, fallback=signature_place(document))


def _by_idempotency_key(session: Session, actor: Actor, key: str) -> Document | None:
    return session.scalars(
        select(Document).where(
            Document.agency_id == actor.agency_id, Document.idempotency_key == key
        )
    ).one_or_none()


def _signed_file(session: Session, runtime: Runtime, document: Document, result_path: Path) -> str:
    """Store the newly signed file and make it the document's current version."""
    sha256, size = runtime.store.put_file(result_path)
    remember_file(session, sha256, size)
    document.current_file = sha256
    return sha256


def sign_document(
    session: Session, runtime: Runtime, actor: Actor, public_id: str, *, pin: str
) -> Document:
    """The official signs the draft with the personal key the service holds for them."""
    actor.require(Role.OFFICIAL)
    document = own_document(session, actor, public_id, lock=True)
    if document.state is not DocumentState.DRAFT:
        raise ConflictError(f"văn bản đã qua bước ký (trạng thái: {document.state.value})")
    user = session.get(User, actor.user_id)
    assert user is not None
    credential = official_credential(runtime, user, pin)
    image = load_image(Path(user.signature_image)) if user.signature_image else None
    agency = document.agency
    options = SignOptions(
        level="b-t",
        field_name=OFFICIAL_FIELD,
        reason="Phê duyệt văn bản",
        location=agency.name,
        signer_name=user.full_name,
        tsa_url=runtime.settings.effective_tsa_url,
        development=runtime.settings.development,
        dev_services=runtime.settings.dev_services,
        appearance=official_appearance(document, image),
    )
    source = runtime.store.local_path(document.current_file)
    with _scratch(runtime) as output:
        with signer_errors():
            result = sign_pdf(source, output, credential, options)
        sha256 = _signed_file(session, runtime, document, output)
    record_official_signature(
        session,
        runtime,
        actor,
        document,
        user,
        result,
        sha256,
        signer_name=credential.common_name or user.full_name,
    )
    session.commit()
    return document


def record_official_signature(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    document: Document,
    user: User,
    result: SignResult,
    sha256: str,
    *,
    signer_name: str,
    token: bool = False,
) -> None:
    """The draft now carries the official's signature: its record, the new state, the audit."""
    session.add(
        Signature(
            document_id=document.id,
            kind="official",
            user_id=user.id,
            field_name=result.field_name,
            level=result.level,
            signer_name=signer_name,
            file_sha256=sha256,
            signed_at=runtime.now(),
        )
    )
    document.state = DocumentState.SIGNED
    document.signer_name = document.signer_name or user.full_name
    document.signer_title = document.signer_title or user.title
    audit.record(
        session,
        "document.sign",
        actor=actor,
        document_id=document.public_id,
        details={"file": sha256, "signer": signer_name, "token": token},
    )


def issue(session: Session, runtime: Runtime, actor: Actor, public_id: str) -> Document:
    """The clerk issues: next outgoing number, issue date, the agency's signature, in one step.

    The number is taken in this transaction and committed with the signed file; if signing
    fails, the transaction rolls back and the number stays free (the register has no gap).
    """
    actor.require(Role.CLERK)
    document = own_document(session, actor, public_id, lock=True)
    if document.state is not DocumentState.SIGNED:
        raise ConflictError(
            "chỉ phát hành được văn bản lãnh đạo đã ký "
            f"(trạng thái hiện tại: {document.state.value})"
        )
    agency = document.agency
    credential = agency_credential(runtime, agency)
    seal = load_image(Path(agency.seal_image)) if agency.seal_image else None
    options = SignOptions(
        level="b-lt",
        field_name=AGENCY_FIELD,
        reason="Phát hành văn bản",
        location=agency.name,
        contact_info=agency.name,
        tsa_url=runtime.settings.effective_tsa_url,
        development=runtime.settings.development,
        dev_services=runtime.settings.dev_services,
        trust_roots=runtime.trust.roots,
        appearance=Appearance("agency", image=seal, fallback=signature_place(document)),
    )
    numbers = DatabaseNumberSource(session, agency.id)
    source = runtime.store.local_path(document.current_file)
    with _scratch(runtime) as output:
        with signer_errors():
            result = issue_document(
                source, output, credential, numbers, options, agency=agency.code, now=runtime.now()
            )
        sha256 = _signed_file(session, runtime, document, output)
    document.number = result.number
    document.number_year = vietnam_date(result.issued_at).year
    document.issued_at = result.issued_at
    document.issued_by_id = actor.user_id
    document.state = DocumentState.ISSUED
    session.add(
        Signature(
            document_id=document.id,
            kind="agency",
            user_id=actor.user_id,
            field_name=result.signature.field_name,
            level=result.signature.level,
            signer_name=credential.common_name or agency.name,
            file_sha256=sha256,
            signed_at=result.issued_at,
        )
    )
    audit.record(
        session,
        "document.issue",
        actor=actor,
        document_id=document.public_id,
        details={"number": document.number_notation, "file": sha256},
    )
    session.commit()
    return document
