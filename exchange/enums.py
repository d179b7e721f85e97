"""The exchange's codes: roles, document states, delivery statuses, business types, registers, jobs.

Plain enums, importable without SQLAlchemy (the rules in statuses.py and actors.py use them);
models.py stores them as their values. Codes follow DOMAIN.md and edXML.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OFFICIAL = "official"  # lãnh đạo: signs
    CLERK = "clerk"  # văn thư: issues, sends, receives, registers
    SPECIALIST = "specialist"  # chuyên viên: drafts, handles assigned documents
    ADMIN = "admin"  # manages the agency's users


class DocumentState(enum.StrEnum):
    DRAFT = "draft"  # uploaded, blanks prepared, waiting for the official
    SIGNED = "signed"  # the official signed, waiting for the clerk
    ISSUED = "issued"  # numbered and signed by the agency, not yet sent
    SENT = "sent"  # deliveries created
    RECALLED = "recalled"  # the sender asked to take it back


class DeliveryStatus(enum.StrEnum):
    """edXML status codes, plus `pending` while the receiving side verifies the document."""

    PENDING = "pending"
    ARRIVED = "01"
    REFUSED = "02"
    REGISTERED = "03"
    ASSIGNED = "04"
    IN_PROGRESS = "05"
    COMPLETED = "06"
    RECALL_REQUESTED = "13"
    RECALL_ACCEPTED = "15"
    RECALL_REFUSED = "16"


class BusinessType(enum.IntEnum):
    """edXML Bussiness/BussinessDocType of a sent document."""

    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


class RegisterKind(enum.StrEnum):
    OUTGOING = "outgoing"  # sổ văn bản đi
    INCOMING = "incoming"  # sổ văn bản đến


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
