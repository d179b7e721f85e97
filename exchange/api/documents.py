"""Documents, deliveries, receipts and registers over JSON: thin views over the use cases."""

from __future__ import annotations

import io
from datetime import date
from typing import Any, NamedTuple

from flask import Blueprint, Response, request, send_file

from exchange.api.body import INT64_MAX, json_body, optional, required
from exchange.api.context import current_actor, current_runtime, request_session
from exchange.enums import DeliveryStatus, DocumentState, RegisterKind, Role
from exchange.errors import ValidationError
from exchange.services import deliveries, documents, mailboxes, sending, token_signing
from exchange.services.registers import export_register
from exchange.statuses import parse_status
from signer.appearance import Placement, parse_placement
from signer.issuing import Blank, vietnam_date
from signer.issuing.blanks import parse_box

documents_api = Blueprint("documents", __name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
TEXT_FIELDS = (
    "document_type",
    "subject",
    "notation",
    "reply_to",
    "supersedes",
    "signer_name",
    "signer_title",
    "recipients_text",
    "classification",
)
NUMBER_FIELDS = ("urgency", "steering_type", "business_type")


class _Upload(NamedTuple):
    data: documents.DraftInput
    issued_elsewhere: bool
    boxes: dict[str, Blank]
    signature_box: Placement | None


def _form_draft() -> _Upload:
    """The metadata sent as multipart form fields beside the file, and any places given by hand.

    `number_box`, `day_box`, `month_box`: "x,y,width,height" in points from the lower-left
    corner of page 1, for drafts whose page 1 shows no blank for them (scans, unusual layouts).
    `signature_box`: "PAGE:x,y,width,height" (page from 1), where the official signs a draft
    whose text shows no signer block (title and name).
    """
    form = request.form
    errors: dict[str, str] = {}
    allowed = {
        *TEXT_FIELDS,
        *NUMBER_FIELDS,
        *documents.BOX_FIELDS,
        "signature_box",
        "due_date",
        "issued_elsewhere",
    }
    unknown = set(form) - allowed
    for name in unknown:
        errors[name] = "trường không được hỗ trợ"
    values: dict[str, Any] = {name: form[name] for name in TEXT_FIELDS if name in form}
    for name in NUMBER_FIELDS:
        if name in form:
            try:
                values[name] = int(form[name])
            except ValueError:
                errors[name] = "phải là số nguyên"
    if form.get("due_date"):
        try:
            values["due_date"] = date.fromisoformat(form["due_date"])
        except ValueError:
            errors["due_date"] = "ngày theo dạng YYYY-MM-DD"
    issued_elsewhere = form.get("issued_elsewhere", "false").lower()
    if issued_elsewhere not in ("true", "false"):
        errors["issued_elsewhere"] = "true hoặc false"
    boxes: dict[str, Blank] = {}
    for name in documents.BOX_FIELDS:
        if form.get(name, "").strip():
            try:
                boxes[name] = parse_box(form[name])
            except ValueError as error:
                errors[name] = str(error)
    signature_box = None
    if form.get("signature_box", "").strip():
        try:
            signature_box = parse_placement(form["signature_box"])
        except ValueError as error:
            errors["signature_box"] = str(error)
    if errors:
        raise ValidationError(
            "dữ liệu gửi lên không hợp lệ: " + ", ".join(sorted(errors)), errors=errors
        )
    values.setdefault("document_type", "")
    values.setdefault("subject", "")
    return _Upload(documents.DraftInput(**values), issued_elsewhere == "true", boxes, signature_box)


@documents_api.post("/documents")
def create_document() -> tuple[dict[str, Any], int]:
    """Upload a PDF with its metadata (multipart/form-data: `file` and the metadata fields)."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError(
            "cần gửi tệp PDF trong trường file (multipart/form-data)", errors={"file": "bắt buộc"}
        )
    form = _form_draft()
    session, actor = request_session(), current_actor()
    document = documents.create_document(
        session,
        current_runtime(),
        actor,
        upload.stream,
        form.data,
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
        issued_elsewhere=form.issued_elsewhere,
        given_blanks=form.boxes,
        signature_box=form.signature_box,
    )
    return mailboxes.document_view(session, actor, document.public_id), 201


def _int_arg(name: str, default: int, *, maximum: int = INT64_MAX) -> int:
    """A whole-number query parameter from 0 to `maximum` (what the databases store by default)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} phải là số nguyên", errors={name: "số nguyên"}) from None
    if value < 0:
        raise ValidationError(f"{name} không được âm", errors={name: "không âm"})
    if value > maximum:
        raise ValidationError(f"{name} quá lớn", errors={name: f"tối đa {maximum}"})
    return value


@documents_api.get("/documents")
def list_documents() -> dict[str, Any]:
    """`?box=outbox` (default) or `?box=inbox`, with `state`/`status`, `limit`, `offset`."""
    session, actor = request_session(), current_actor()
    box = request.args.get("box", "outbox")
    limit, offset = _int_arg("limit", 50), _int_arg("offset", 0)
    if box == "outbox":
        state_arg = request.args.get("state")
        try:
            state = DocumentState(state_arg) if state_arg else None
        except ValueError:
            raise ValidationError(
                "trạng thái văn bản không hợp lệ", errors={"state": state_arg or ""}
            ) from None
        items = mailboxes.outbox(session, actor, state=state, limit=limit, offset=offset)
    elif box == "inbox":
        status_arg = request.args.get("status")
        status = parse_status(status_arg) if status_arg else None
        items = mailboxes.inbox(
            session,
            actor,
            status=status,
            include_hidden=request.args.get("include_hidden") == "true",
            limit=limit,
            offset=offset,
        )
    else:
        raise ValidationError("box là outbox hoặc inbox", errors={"box": box})
    return {"items": items, "limit": limit, "offset": offset}


@documents_api.get("/documents/<public_id>")
def get_document(public_id: str) -> dict[str, Any]:
    return mailboxes.document_view(request_session(), current_actor(), public_id)


@documents_api.get("/documents/<public_id>/file")
def get_document_file(public_id: str) -> Response:
    document = mailboxes.document_file(request_session(), current_actor(), public_id)
    handle = current_runtime().store.open(document.current_file)
    name = (document.number_notation or document.public_id).replace("/", "-")
    return send_file(
        handle,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{name}.pdf",
        etag=document.current_file,
    )


@documents_api.post("/documents/<public_id>/sign")
def sign_document(public_id: str) -> dict[str, Any]:
    """The official signs with the key the service holds for them: `{"pin": "..."}`."""
    body = json_body(pin=required(str, max_length=256))
    session, actor = request_session(), current_actor()
    documents.sign_document(session, current_runtime(), actor, public_id, pin=body["pin"])
    return mailboxes.document_view(session, actor, public_id)


@documents_api.post("/documents/<public_id>/sign/prepare")
def prepare_token_signature(public_id: str) -> dict[str, Any]:
    """USB token signing, step 1: `{"certificate": PEM or base64 DER}` → data to sign."""
    body = json_body(certificate=required(str, max_length=20000))
    return token_signing.prepare_token_signature(
        request_session(), current_runtime(), current_actor(), public_id, body["certificate"]
    )


@documents_api.post("/documents/<public_id>/sign/finish")
def finish_token_signature(public_id: str) -> dict[str, Any]:
    """USB token signing, step 2: `{"signature": base64, "format": "raw"|"cms"}`."""
    body = json_body(
        signature=required(str, max_length=100000),
        format=optional(str, "raw", nullable=False, max_length=8),
    )
    session, actor = request_session(), current_actor()
    token_signing.finish_token_signature(
        session, current_runtime(), actor, public_id, body["signature"], body["format"]
    )
    return mailboxes.document_view(session, actor, public_id)


@documents_api.post("/documents/<public_id>/issue")
def issue_document(public_id: str) -> dict[str, Any]:
    """The clerk issues: number, date and the agency's signature."""
    session, actor = request_session(), current_actor()
    documents.issue(session, current_runtime(), actor, public_id)
    return mailboxes.document_view(session, actor, public_id)


@documents_api.post("/documents/<public_id>/send")
def send_document(public_id: str) -> dict[str, Any]:
    """`{"agencies": [codes], "groups": [codes]}`; sending again adds only new recipients."""
    body = json_body(
        agencies=optional(list, [], items=str, max_length=1000, nullable=False),
        groups=optional(list, [], items=str, max_length=100, nullable=False),
    )
    session, actor = request_session(), current_actor()
    sending.send(
        session,
        current_runtime(),
        actor,
        public_id,
        agencies=body["agencies"],
        groups=body["groups"],
    )
    return mailboxes.document_view(session, actor, public_id)


@documents_api.post("/documents/<public_id>/recall")
def recall_document(public_id: str) -> dict[str, Any]:
    body = json_body(reason=required(str, max_length=2000))
    session, actor = request_session(), current_actor()
    sending.recall(session, current_runtime(), actor, public_id, reason=body["reason"])
    return mailboxes.document_view(session, actor, public_id)


@documents_api.get("/deliveries/<public_id>")
def get_delivery(public_id: str) -> dict[str, Any]:
    return mailboxes.delivery_view(request_session(), current_actor(), public_id)


@documents_api.post("/deliveries/<public_id>/status")
def change_status(public_id: str) -> dict[str, Any]:
    """The receiving office's step: `{"status": "03", "reason": ..., "assigned_to": ...}`."""
    body = json_body(
        status=required(str, max_length=8),
        reason=optional(str, None, max_length=2000),
        assigned_to=optional(str, None, max_length=255),
    )
    session, actor = request_session(), current_actor()
    status: DeliveryStatus = parse_status(body["status"])
    deliveries.change_status(
        session,
        current_runtime(),
        actor,
        public_id,
        status,
        reason=body["reason"],
        assigned_to=body["assigned_to"],
    )
    return mailboxes.delivery_view(session, actor, public_id)


@documents_api.post("/deliveries/<public_id>/recall-answer")
def answer_recall(public_id: str) -> dict[str, Any]:
    """`{"accept": true}` (15) or `{"accept": false, "reason": ...}` (16)."""
    body = json_body(accept=required(bool), reason=optional(str, None, max_length=2000))
    session, actor = request_session(), current_actor()
    deliveries.answer_recall(
        session, current_runtime(), actor, public_id, accept=body["accept"], reason=body["reason"]
    )
    return mailboxes.delivery_view(session, actor, public_id)


@documents_api.get("/deliveries/<public_id>/verification")
def get_verification(public_id: str) -> dict[str, Any]:
    return mailboxes.verification_report(request_session(), current_actor(), public_id)


@documents_api.get("/receipts/<int:receipt_id>")
def get_receipt(receipt_id: int) -> Response:
    """The signed receipt (CMS, DER): check it with `congvan receipt verify`."""
    receipt, data = mailboxes.receipt_bytes(request_session(), current_actor(), receipt_id)
    return send_file(
        io.BytesIO(data),
        mimetype="application/pkcs7-mime",
        as_attachment=True,
        download_name=f"bien-nhan-{receipt.id}-{receipt.status}.p7m",
    )


@documents_api.get("/registers/<kind>")
def get_register(kind: str) -> Response:
    """The actor's agency's register: `outgoing` or `incoming`, `?year=`, `?format=csv|html`."""
    try:
        register_kind = RegisterKind(kind)
    except ValueError:
        raise ValidationError(
            "sổ là outgoing (đi) hoặc incoming (đến)", errors={"kind": kind}
        ) from None
    actor = current_actor()
    actor.require(Role.CLERK, Role.OFFICIAL, Role.ADMIN)
    year = _int_arg("year", vietnam_date(current_runtime().now()).year, maximum=9999)
    output_format = request.args.get("format", "html")
    assert actor.agency_code is not None
    body = export_register(request_session(), actor.agency_code, register_kind, year, output_format)
    if output_format == "csv":
        return Response(
            body,
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="so-{register_kind.value}-{year}.csv"'
            },
        )
    return Response(body, mimetype="text/html")
