"""What each side sees: the sender's outbox with per-recipient states, the receiver's inbox.

Plain JSON-ready dictionaries, shared by the API and the pages. A recalled delivery the receiver
gave back leaves the working views, never the evidence (`include_hidden`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.actors import Actor
from exchange.enums import DeliveryStatus, DocumentState
from exchange.errors import NotFoundError
from exchange.models import Delivery, Document, Receipt, VerificationRecord
from exchange.services.deliveries import mailbox_delivery
from exchange.statuses import STATUS_NAMES, overall_status
from signer.issuing import vietnam_date

STATE_NAMES = {
    DocumentState.DRAFT: "dự thảo",
    DocumentState.SIGNED: "lãnh đạo đã ký",
    DocumentState.ISSUED: "đã phát hành",
    DocumentState.SENT: "đã gửi",
    DocumentState.RECALLED: "đã xin thu hồi",
}

MAX_PAGE = 200


def _time(value: Any) -> str | None:
    return vietnam_date(value).isoformat(timespec="seconds") if value is not None else None


def document_summary(document: Document) -> dict[str, Any]:
    """The metadata both sides see (edXML header fields)."""
    return {
        "id": document.public_id,
        "agency": {"code": document.agency.code, "name": document.agency.name},
        "state": document.state.value,
        "state_name": STATE_NAMES[document.state],
        "document_type": document.document_type,
        "number": document.number,
        "number_notation": document.number_notation or document.notation,
        "subject": document.subject,
        "urgency": document.urgency,
        "due_date": document.due_date.isoformat() if document.due_date else None,
        "steering_type": document.steering_type,
        "business_type": document.business_type,
        "reply_to": document.reply_to.public_id if document.reply_to else None,
        "supersedes": document.supersedes.public_id if document.supersedes else None,
        "signer": {"name": document.signer_name, "title": document.signer_title},
        "page_count": document.page_count,
        "issued_at": _time(document.issued_at),
        "sent_at": _time(document.sent_at),
        "file_sha256": document.current_file,
    }


def delivery_summary(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.public_id,
        "recipient": {"code": delivery.recipient.code, "name": delivery.recipient.name},
        "status": delivery.status.value,
        "status_name": STATUS_NAMES[delivery.status],
        "reason": delivery.reason,
        "incoming_number": delivery.incoming_number,
        "assigned_to": delivery.assigned_to,
        "received_at": _time(delivery.received_at),
        "registered_at": _time(delivery.registered_at),
        "updated_at": _time(delivery.updated_at),
        "hidden": delivery.hidden,
        "history": [
            {
                "status": event.status.value,
                "status_name": STATUS_NAMES[event.status],
                "reason": event.reason,
                "at": _time(event.at),
                "receipt": event.receipt.id if event.receipt else None,
            }
            for event in delivery.events
        ],
    }


def document_view(session: Session, actor: Actor, public_id: str) -> dict[str, Any]:
    """The sender sees every recipient's state; a recipient sees its own delivery only."""
    document = session.scalars(select(Document).where(Document.public_id == public_id)).first()
    if document is None:
        raise NotFoundError(f"không tìm thấy văn bản {public_id}")
    view = document_summary(document)
    if document.agency_id == actor.agency_id:
        view["signature_box"] = document.signature_box
        view["deliveries"] = [delivery_summary(delivery) for delivery in document.deliveries]
        view["overall"] = overall_status([delivery.status for delivery in document.deliveries])
        view["signatures"] = [
            {
                "kind": item.kind,
                "signer": item.signer_name,
                "level": item.level,
                "at": _time(item.signed_at),
            }
            for item in document.signatures
        ]
        return view
    own = [delivery for delivery in document.deliveries if delivery.recipient_id == actor.agency_id]
    if not own:
        raise NotFoundError(f"không tìm thấy văn bản {public_id}")
    view["delivery"] = delivery_summary(own[0])
    return view


def outbox(
    session: Session,
    actor: Actor,
    *,
    state: DocumentState | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(Document).where(Document.agency_id == actor.agency_id)
    if state is not None:
        query = query.where(Document.state == state)
    query = query.order_by(Document.id.desc()).limit(min(limit, MAX_PAGE)).offset(offset)
    items = []
    for document in session.scalars(query):
        item = document_summary(document)
        item["overall"] = overall_status([delivery.status for delivery in document.deliveries])
        items.append(item)
    return items


def inbox(
    session: Session,
    actor: Actor,
    *,
    status: DeliveryStatus | None = None,
    include_hidden: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(Delivery).where(Delivery.recipient_id == actor.agency_id)
    if not include_hidden:
        query = query.where(Delivery.hidden.is_(False))
    if status is not None:
        query = query.where(Delivery.status == status)
    query = query.order_by(Delivery.id.desc()).limit(min(limit, MAX_PAGE)).offset(offset)
    return [
        {**document_summary(delivery.document), "delivery": delivery_summary(delivery)}
        for delivery in session.scalars(query)
    ]


def _visible_delivery(session: Session, actor: Actor, public_id: str) -> Delivery:
    """A delivery the actor's agency sent or received."""
    delivery = session.scalars(select(Delivery).where(Delivery.public_id == public_id)).first()
    if delivery is not None and delivery.document.agency_id == actor.agency_id:
        return delivery
    return mailbox_delivery(session, actor, public_id)


def delivery_view(session: Session, actor: Actor, public_id: str) -> dict[str, Any]:
    delivery = _visible_delivery(session, actor, public_id)
    return {**delivery_summary(delivery), "document": document_summary(delivery.document)}


def verification_report(session: Session, actor: Actor, public_id: str) -> dict[str, Any]:
    """The receiving side's verification report, as both sides see it."""
    delivery = _visible_delivery(session, actor, public_id)
    record = session.scalars(
        select(VerificationRecord)
        .where(VerificationRecord.delivery_id == delivery.id)
        .order_by(VerificationRecord.id.desc())
    ).first()
    if record is None:
        raise NotFoundError("văn bản chưa được kiểm tra chữ ký (đang chờ)")
    return {"verified_at": _time(record.verified_at), **record.report}


def receipt_bytes(session: Session, actor: Actor, receipt_id: int) -> tuple[Receipt, bytes]:
    """A signed receipt, for the sender or the receiver of its delivery."""
    receipt = session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFoundError(f"không tìm thấy biên nhận {receipt_id}")
    delivery = session.get(Delivery, receipt.delivery_id)
    assert delivery is not None
    if actor.agency_id not in (delivery.recipient_id, delivery.document.agency_id):
        raise NotFoundError(f"không tìm thấy biên nhận {receipt_id}")
    return receipt, receipt.cms


def document_file(session: Session, actor: Actor, public_id: str) -> Document:
    """The document whose current file the actor may download (sender or a recipient)."""
    document = session.scalars(select(Document).where(Document.public_id == public_id)).first()
    if document is None or not (
        document.agency_id == actor.agency_id
        or any(delivery.recipient_id == actor.agency_id for delivery in document.deliveries)
    ):
        raise NotFoundError(f"không tìm thấy văn bản {public_id}")
    return document
