"""A document in a receiving mailbox: verification on arrival, the clerk's statuses, recall.

Every status the receiving side sets produces a receipt signed with the receiving agency's key,
which the sender can download and verify on its own (`congvan receipt verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509 as pyca_x509
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange import audit
from exchange.actors import SYSTEM, Actor
from exchange.enums import DeliveryStatus, RegisterKind, Role
from exchange.errors import NotFoundError, ValidationError
from exchange.models import Agency, Delivery, DeliveryEvent, Receipt, VerificationRecord
from exchange.runtime import Runtime
from exchange.services.credentials import agency_credential
from exchange.services.registers import take_number
from exchange.statuses import check_recall_answer, check_receiver_step
from signer.errors import UnreadablePdfError
from signer.issuing import vietnam_date
from signer.receipts import ReceiptContent, sign_receipt
from signer.reports import summarize
from signer.verification import verify_pdf
from signer.verification.model import VerificationReport

# Who may move a delivery to each status, in the receiving agency.
STEP_ROLES: dict[DeliveryStatus, tuple[Role, ...]] = {
    DeliveryStatus.REFUSED: (Role.CLERK,),
    DeliveryStatus.REGISTERED: (Role.CLERK,),
    DeliveryStatus.ASSIGNED: (Role.CLERK, Role.OFFICIAL),
    DeliveryStatus.IN_PROGRESS: (Role.CLERK, Role.SPECIALIST, Role.OFFICIAL),
    DeliveryStatus.COMPLETED: (Role.CLERK, Role.SPECIALIST, Role.OFFICIAL),
}


def _system_for(agency: Agency) -> Actor:
    return Actor(
        user_id=None, username=SYSTEM.username, agency_id=agency.id, agency_code=agency.code
    )


def sender_problem(session: Session, sender: Agency, report: VerificationReport) -> str | None:
    """Why a passed document still cannot count as issued by `sender`, or None.

    Decree 30: an electronic document has legal value with the official's signature followed by
    the issuing agency's. The last signature must be the sending agency's own certificate.
    """
    signatures = [item for item in report.signatures if item.kind == "signature"]
    if len(signatures) < 2:
        return (
            "văn bản chưa đủ hai chữ ký số (người có thẩm quyền và cơ quan ban hành) "
            "theo Nghị định 30/2020"
        )
    signer = signatures[-1].signer
    if signer is None:
        return "không đọc được chứng thư số của chữ ký cơ quan"
    if signer.organization_identifier == sender.code:
        return None
    for certificate in sender.certificates:
        parsed = pyca_x509.load_der_x509_certificate(certificate.der)
        if (
            format(parsed.serial_number, "X") == signer.serial
            and parsed.issuer.rfc4514_string() == signer.issuer
        ):
            return None
    return (
        f"chữ ký số cơ quan trên văn bản là của {signer.organization or signer.common_name}, "
        f"không phải của cơ quan gửi {sender.name} ({sender.code})"
    )


@dataclass(frozen=True)
class Judgement:
    """The verifier's word on a delivered file, reached before the delivery is locked."""

    file_sha256: str
    report: VerificationReport | None
    unreadable: str | None = None


def judge_delivery(
    session_factory: sessionmaker[Session], runtime: Runtime, payload: dict[str, Any]
) -> Judgement | None:
    """Worker job, slow part: verify the delivered file with the receiving side's trust.

    It reads in a short session of its own and verifies with no transaction open, so nothing is
    locked meanwhile (SQLite serialises writers: the service keeps answering).
    """
    with session_factory() as session:
        delivery = session.get(Delivery, int(payload["delivery_id"]))
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return None
        file_sha256 = delivery.document.current_file
    settings = runtime.settings
    try:
        report = verify_pdf(
            runtime.store.local_path(file_sha256),
            trust=runtime.trust,
            offline=settings.verify_offline,
            timeout=settings.verify_timeout,
        )
    except UnreadablePdfError as error:
        return Judgement(file_sha256, None, str(error))
    return Judgement(file_sha256, report)


def record_judgement(
    session: Session, runtime: Runtime, payload: dict[str, Any], judgement: Judgement | None
) -> None:
    """Worker job, in its transaction: the delivery arrives (01) or is refused (02), once."""
    delivery = session.scalars(
        select(Delivery).where(Delivery.id == int(payload["delivery_id"])).with_for_update()
    ).one_or_none()
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return  # judged already, or recalled before it was judged: nothing to redo
    document = delivery.document
    if judgement is None or judgement.file_sha256 != document.current_file:
        raise RuntimeError("văn bản thay đổi trong lúc kiểm tra; sẽ kiểm tra lại")
    if judgement.report is None:
        verdict, reason = "failed", judgement.unreadable or "không đọc được tệp"
        body: dict[str, Any] = {"verdict": verdict, "reason": reason, "signatures": []}
    else:
        report = judgement.report
        verdict, reason, body = report.verdict, summarize(report), report.to_dict()
        if verdict == "passed":
            problem = sender_problem(session, document.agency, report)
            if problem is not None:
                verdict, reason = "failed", problem
                body = {**body, "verdict": verdict, "reason": reason}
    now = runtime.now()
    session.add(
        VerificationRecord(
            file_sha256=document.current_file,
            delivery_id=delivery.id,
            verdict=verdict,
            reason=reason,
            report=body,
            verified_at=now,
        )
    )
    delivery.received_at = now
    if verdict == "passed":
        _set_status(session, runtime, delivery, DeliveryStatus.ARRIVED, None, None)
    else:
        refusal = f"Văn bản không qua kiểm tra chữ ký số: {reason}"
        _set_status(session, runtime, delivery, DeliveryStatus.REFUSED, refusal, None)
    audit.record(
        session,
        "delivery.verify",
        actor=_system_for(delivery.recipient),
        document_id=document.public_id,
        details={"delivery": delivery.public_id, "verdict": verdict, "reason": reason},
        at=now,
    )


def _set_status(
    session: Session,
    runtime: Runtime,
    delivery: Delivery,
    status: DeliveryStatus,
    reason: str | None,
    actor: Actor | None,
) -> DeliveryEvent:
    """Move the delivery, record the event and the receiving agency's signed receipt."""
    now = runtime.now()
    delivery.status = status
    delivery.reason = reason
    event = DeliveryEvent(
        delivery_id=delivery.id,
        status=status,
        reason=reason,
        actor_id=actor.user_id if actor else None,
        at=now,
    )
    session.add(event)
    session.flush()
    document = delivery.document
    content = ReceiptContent(
        document_sha256=document.current_file,
        document_number=document.number_notation or document.notation,
        delivery_id=delivery.public_id,
        status=status.value,
        reason=reason,
        at=now,
        sender_code=document.agency.code,
        sender_name=document.agency.name,
        receiver_code=delivery.recipient.code,
        receiver_name=delivery.recipient.name,
    )
    cms = sign_receipt(content, agency_credential(runtime, delivery.recipient), now=now)
    session.add(
        Receipt(
            event_id=event.id, delivery_id=delivery.id, status=status.value, cms=cms, created_at=now
        )
    )
    return event


def mailbox_delivery(
    session: Session, actor: Actor, public_id: str, *, lock: bool = False
) -> Delivery:
    """A delivery in the actor's agency's mailbox; NotFound for any other mailbox."""
    query = select(Delivery).where(Delivery.public_id == public_id)
    if lock:
        query = query.with_for_update()
    delivery = session.scalars(query).one_or_none()
    if delivery is None or delivery.recipient_id != actor.agency_id:
        raise NotFoundError(f"không tìm thấy văn bản đến {public_id} trong hộp thư của cơ quan")
    return delivery


def change_status(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    public_id: str,
    status: DeliveryStatus,
    *,
    reason: str | None = None,
    assigned_to: str | None = None,
) -> Delivery:
    """The receiving office's step: refuse (02), register (03), assign (04), progress, complete."""
    actor.require(*STEP_ROLES.get(status, (Role.CLERK,)))
    delivery = mailbox_delivery(session, actor, public_id, lock=True)
    history = [event.status for event in delivery.events]
    check_receiver_step(delivery.status, status, history, reason)
    now = runtime.now()
    details: dict[str, Any] = {"delivery": delivery.public_id, "status": status.value}
    if status is DeliveryStatus.REGISTERED:
        year = vietnam_date(now).year
        delivery.incoming_number = take_number(
            session, delivery.recipient_id, RegisterKind.INCOMING, year
        )
        delivery.incoming_year = year
        delivery.registered_at = now
        details["incoming_number"] = delivery.incoming_number
    if status is DeliveryStatus.ASSIGNED:
        if not (assigned_to and assigned_to.strip()):
            raise ValidationError(
                "cần ghi đơn vị hoặc người được giao xử lý", errors={"assigned_to": "trống"}
            )
        delivery.assigned_to = assigned_to.strip()
        delivery.assigned_at = now
        details["assigned_to"] = delivery.assigned_to
    _set_status(session, runtime, delivery, status, reason.strip() if reason else None, actor)
    audit.record(
        session,
        f"delivery.status.{status.value}",
        actor=actor,
        document_id=delivery.document.public_id,
        details=details,
        at=now,
    )
    session.commit()
    return delivery


def answer_recall(
    session: Session,
    runtime: Runtime,
    actor: Actor,
    public_id: str,
    *,
    accept: bool,
    reason: str | None = None,
) -> Delivery:
    """The receiver accepts (15: the document leaves its working views) or refuses (16)."""
    actor.require(Role.CLERK)
    delivery = mailbox_delivery(session, actor, public_id, lock=True)
    status = check_recall_answer(delivery.status, accept, reason)
    if accept:
        delivery.hidden = True
    _set_status(session, runtime, delivery, status, reason.strip() if reason else None, actor)
    audit.record(
        session,
        f"delivery.recall.{status.value}",
        actor=actor,
        document_id=delivery.document.public_id,
        details={"delivery": delivery.public_id, "accepted": accept},
    )
    session.commit()
    return delivery
