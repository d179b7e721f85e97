"""The exchange's data: agencies, users, documents, files, deliveries, registers, jobs, audit.

Alembic owns the schema (exchange/migrations); these classes describe it to SQLAlchemy.
Domain codes (statuses, urgency, steering type) follow DOMAIN.md and edXML; the enums that name
them are in enums.py, free of SQLAlchemy.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.db import Base, UTCDateTime, utcnow
from exchange.enums import BusinessType, DeliveryStatus, DocumentState, JobState, RegisterKind, Role


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    # Stored as the value strings, checked by a constraint: portable, readable in SQL.
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Agency(Base):
    """An agency (cơ quan) in a tree with no fixed levels; `code` is its mã định danh."""

    __tablename__ = "agencies"
    __table_args__ = (CheckConstraint("length(code) between 1 and 35", name="code_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(35), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    contact: Mapped[str] = mapped_column(String(255), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The agency's signing key: a PKCS#12 path or a PKCS#11 URI, and the variable holding its PIN.
    credential: Mapped[str | None] = mapped_column(String(1024))
    credential_pin_env: Mapped[str | None] = mapped_column(String(128))
    seal_image: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped[Agency | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Agency]] = relationship(back_populates="parent")
    certificates: Mapped[list[AgencyCertificate]] = relationship(back_populates="agency")


class AgencyCertificate(Base):
    """A certificate the agency signs with; a received document's agency signature must match."""

    __tablename__ = "agency_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(1024))
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)

    agency: Mapped[Agency] = relationship(back_populates="certificates")


class AgencyGroup(Base):
    """Recipients chosen together: a fixed list, or every active child of an agency."""

    __tablename__ = "agency_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    children_of_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))

    children_of: Mapped[Agency | None] = relationship()
    members: Mapped[list[Agency]] = relationship(secondary="agency_group_members")


class AgencyGroupMember(Base):
    __tablename__ = "agency_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("agency_groups.id"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")  # chức vụ
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # An official's personal key held by the service (PKCS#12 path or PKCS#11 URI), unlocked by
    # the PIN the official gives at each signature; and the handwritten signature image.
    credential: Mapped[str | None] = mapped_column(String(1024))
    signature_image: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class Membership(Base):
    """A role a user holds in an agency."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "agency_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))

    user: Mapped[User] = relationship(back_populates="memberships")
    agency: Mapped[Agency] = relationship()


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()


class StoredFile(Base):
    """A file's identity: stored once by SHA-256 however many documents or mailboxes refer to it."""

    __tablename__ = "files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(128), default="application/pdf")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Document(Base):
    """An agency's official document (văn bản) from draft to sent; Decree 30 Art. 8 metadata."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("agency_id", "idempotency_key"),
        UniqueConstraint("agency_id", "number_year", "number_series", "number"),
        CheckConstraint("urgency between 0 and 4", name="urgency_range"),
        CheckConstraint("steering_type between 0 and 2", name="steering_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[DocumentState] = mapped_column(_enum(DocumentState, "document_state"))

    document_type: Mapped[str] = mapped_column(String(64))  # loại văn bản: "Công văn", ...
    notation: Mapped[str] = mapped_column(String(64), default="")  # ký hiệu: "UBND-VP"
    subject: Mapped[str] = mapped_column(Text)  # trích yếu
    urgency: Mapped[int] = mapped_column(Integer, default=0)
    due_date: Mapped[date | None] = mapped_column(Date)
    steering_type: Mapped[int] = mapped_column(Integer, default=0)
    business_type: Mapped[int] = mapped_column(Integer, default=int(BusinessType.NEW))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    page_count: Mapped[int | None] = mapped_column(Integer)
    signer_name: Mapped[str] = mapped_column(String(255), default="")
    signer_title: Mapped[str] = mapped_column(String(255), default="")
    recipients_text: Mapped[str] = mapped_column(Text, default="")  # nơi nhận as printed
    # Where the official's signature goes when the text shows no signer block (a scan, an
    # unusual layout): "PAGE:x,y,width,height", page from 1, points from the lower-left corner.
    signature_box: Mapped[str | None] = mapped_column(String(64))

    number: Mapped[int | None] = mapped_column(Integer)
    number_year: Mapped[int | None] = mapped_column(Integer)
    number_series: Mapped[str] = mapped_column(String(64), default="")
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recall_reason: Mapped[str | None] = mapped_column(Text)

    original_file: Mapped[str] = mapped_column(ForeignKey("files.sha256"))
    current_file: Mapped[str] = mapped_column(ForeignKey("files.sha256"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    agency: Mapped[Agency] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    reply_to: Mapped[Document | None] = relationship(remote_side=[id], foreign_keys=[reply_to_id])
    supersedes: Mapped[Document | None] = relationship(
        remote_side=[id], foreign_keys=[supersedes_id]
    )
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="document", order_by="Delivery.id"
    )
    signatures: Mapped[list[Signature]] = relationship(
        back_populates="document", order_by="Signature.id"
    )

    @property
    def number_notation(self) -> str:
        """ "12/UBND-VP" once issued, else an empty string."""
        if self.number is None:
            return ""
        return f"{self.number:02d}/{self.notation}" if self.notation else f"{self.number:02d}"


class Signature(Base):
    """A signature the service applied to a document, and the file it produced."""

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # official | agency
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    field_name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(8))
    signer_name: Mapped[str] = mapped_column(String(255), default="")
    file_sha256: Mapped[str] = mapped_column(ForeignKey("files.sha256"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    document: Mapped[Document] = relationship(back_populates="signatures")


class VerificationRecord(Base):
    """A verifier's report on a file, as the receiving side judged it."""

    __tablename__ = "verification_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_sha256: Mapped[str] = mapped_column(ForeignKey("files.sha256"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Delivery(Base):
    """A document in one recipient's mailbox, with its edXML status."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("document_id", "recipient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    reason: Mapped[str | None] = mapped_column(Text)
    incoming_number: Mapped[int | None] = mapped_column(Integer)
    incoming_year: Mapped[int | None] = mapped_column(Integer)
    assigned_to: Mapped[str | None] = mapped_column(String(255))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)  # recalled: out of working views
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    document: Mapped[Document] = relationship(back_populates="deliveries")
    recipient: Mapped[Agency] = relationship()
    events: Mapped[list[DeliveryEvent]] = relationship(
        back_populates="delivery", order_by="DeliveryEvent.id"
    )


Index(
    "uq_deliveries_incoming_number",
    Delivery.recipient_id,
    Delivery.incoming_year,
    Delivery.incoming_number,
    unique=True,
)


class DeliveryEvent(Base):
    """One step in a delivery's status history, with who made it and its signed receipt."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    delivery: Mapped[Delivery] = relationship(back_populates="events")
    receipt: Mapped[Receipt | None] = relationship(back_populates="event")


class Receipt(Base):
    """A status receipt signed by the receiving agency (CMS over document hash, status, time)."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("delivery_events.id"), unique=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    cms: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    event: Mapped[DeliveryEvent] = relationship(back_populates="receipt")


class Register(Base):
    """A register book (sổ): an agency's outgoing or incoming numbers in one year."""

    __tablename__ = "registers"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    kind: Mapped[RegisterKind] = mapped_column(
        _enum(RegisterKind, "register_kind"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    series: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Job(Base):
    """Background work, written in the same transaction as the change that calls for it."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_jobs_claim", Job.state, Job.run_after)


class AuditEvent(Base):
    """One entry of the hash-chained audit log; `entry_hash` covers the previous entry's hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))  # username, or "system"
    agency_code: Mapped[str | None] = mapped_column(String(35))
    action: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[str | None] = mapped_column(String(36))  # public id
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last entry, one row: locking it serialises appends across processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
