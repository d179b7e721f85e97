"""Sending an issued document to mailboxes, and asking for it back.

Each recipient gets one delivery and one verification job, written in the same transaction:
the receiving side verifies the document before its clerk sees it (exchange/services/deliveries.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from exchange import audit
from exchange.actors import Actor
from exchange.enums import DeliveryStatus, DocumentState, Role
from exchange.errors import ConflictError, ValidationError
from exchange.jobs import enqueue
from exchange.models import Agency, Delivery, DeliveryEvent, Document
from exchange.runtime import Runtime
from exchange.services.directory import resolve_recipients
from exchange.services.documents import own_document
from exchange.statuses import RECALLABLE

VERIFY_DELIVERY = "verify_delivery"


def send(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    public_id: str,
    *,
    agencies: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> Document:
    """Send an issued document to agencies and groups: one delivery and one verification job each.

    Sending again to recipients that already have it adds nothing (safe to retry).
    """
    actor.require(Role.CLERK)
    document = own_document(session, actor, public_id, lock=True)
    if document.state not in (DocumentState.ISSUED, DocumentState.SENT):
        raise ConflictError(
            "chỉ gửi được văn bản đã phát hành (có số và chữ ký số của cơ quan); "
            f"trạng thái hiện tại: {document.state.value}"
        )
    recipients = resolve_recipients(session, agencies, groups)
    if not recipients:
        raise ValidationError("cần chọn ít nhất một nơi nhận", errors={"agencies": "trống"})
    if any(agency.id == document.agency_id for agency in recipients):
        raise ValidationError(
            "không gửi văn bản cho chính cơ quan mình", errors={"agencies": "trùng cơ quan gửi"}
        )
    already = {delivery.recipient_id for delivery in document.deliveries}
    now = runtime.now()
    added: list[Agency] = []
    for agency in recipients:
        if agency.id in already:
            continue
        delivery = Delivery(
            public_id=str(uuid.uuid4()),
            document=document,
            recipient_id=agency.id,
            status=DeliveryStatus.PENDING,
            created_at=now,
        )
        session.add(delivery)
        session.flush()
        session.add(DeliveryEvent(delivery_id=delivery.id, status=DeliveryStatus.PENDING, at=now))
        enqueue(
            session,
            VERIFY_DELIVERY,
            {"delivery_id": delivery.id},
            max_attempts=runtime.settings.job_max_attempts,
            now=now,
        )
        added.append(agency)
    if added:
        document.state = DocumentState.SENT
        document.sent_at = document.sent_at or now
        audit.record(
            session,
            "document.send",
            actor=actor,
            document_id=document.public_id,
            details={"to": [agency.code for agency in added]},
        )
    session.commit()
    return document


def recall(
    session: Session, runtime: Runtime, actor: Actor, public_id: str, *, reason: str
) -> Document:
    """Ask every recipient to give the document back (13); each answers 15 or 16."""
    actor.require(Role.CLERK)
    if not reason.strip():
        raise ValidationError("thu hồi văn bản phải có lý do", errors={"reason": "cần ghi lý do"})
    document = own_document(session, actor, public_id, lock=True)
    if document.state is not DocumentState.SENT:
        raise ConflictError(f"chỉ thu hồi được văn bản đã gửi (trạng thái: {document.state.value})")
    now = runtime.now()
    asked = []
    for delivery in document.deliveries:
        if delivery.status in RECALLABLE:
            delivery.status = DeliveryStatus.RECALL_REQUESTED
            delivery.reason = reason.strip()
            session.add(
                DeliveryEvent(
                    delivery_id=delivery.id,
                    status=DeliveryStatus.RECALL_REQUESTED,
                    reason=reason.strip(),
                    actor_id=actor.user_id,
                    at=now,
                )
            )
            asked.append(delivery.recipient.code)
    document.state = DocumentState.RECALLED
    document.recall_reason = reason.strip()
    audit.record(
        session,
        "document.recall",
        actor=actor,
        document_id=document.public_id,
        details={"reason": reason.strip(), "asked": asked},
    )
    session.commit()
    return document
