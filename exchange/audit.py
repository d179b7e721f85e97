"""The hash-chained audit log: every action appended with the hash of the entry before it.

Canonical form of an entry (version 1), so an auditor can recompute the chain without our code:

    entry_hash = lowercase hex SHA-256 of the UTF-8 bytes of one JSON object with exactly the keys
      "v"            1
      "id"           the entry's id: 1 for the first entry, then +1 for each (no gaps)
      "prev_hash"    the previous entry's entry_hash; "0" * 64 for entry 1
      "at"           UTC time, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always six fraction digits)
      "actor"        username, or "system"
      "agency_code"  string or null
      "action"       string, e.g. "document.issue"
      "document_id"  the document's public id, or null
      "remote_addr"  string or null
      "details"      a JSON object of strings, integers, booleans, null, arrays and objects
    written with keys sorted by Unicode code point at every level, no whitespace (separators ","
    and ":"), non-ASCII characters as themselves (not \\u escapes), integers in plain decimal.

Floats are refused in details (their text form differs between languages); times inside details
are written like "at". The `audit_head` row holds the last id and hash: appends lock it, so the
chain is a single line across processes, and comparing it with the last row catches a deleted tail.
A rewritten chain (every hash recomputed, head included) is caught only by comparing the head hash
with a copy kept elsewhere: `congvan audit verify` prints it for that purpose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Dialect, Text, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from exchange.actors import Actor
from exchange.db import is_postgresql, utcnow
from exchange.models import AuditEvent, AuditHead
from signer.vietnam_time import VIETNAM_TIME

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64
HEAD_ID = 1


def format_time(at: datetime) -> str:
    """The canonical text of an aware time: UTC, microseconds, a trailing Z."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given where UTC is required")
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """`details` reduced to the JSON values the canonical form allows; refuses anything else."""
    value = _plain(details, "details")
    if not isinstance(value, dict):  # pragma: no cover: _plain keeps a mapping a dict
        raise TypeError("details must be a mapping")
    return value


def _plain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (StrEnum) becomes its plain text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit {where}: key {key!r} is not a string")
            result[str.__str__(key)] = _plain(item, f"{where}.{key}")
        return result
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"audit {where}: {type(value).__name__} is not allowed in the audit log")


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """The canonical JSON encoding of an entry's fields (see the module docstring)."""
    text = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def entry_fields(
    *,
    id: int,
    prev_hash: str,
    at: datetime,
    actor: str,
    agency_code: str | None,
    action: str,
    document_id: str | None,
    remote_addr: str | None,
    details: Mapping[str, Any],
) -> dict[str, Any]:
    """The object whose canonical bytes are hashed for one entry."""
    return {
        "v": FORMAT_VERSION,
        "id": id,
        "prev_hash": prev_hash,
        "at": format_time(at),
        "actor": actor,
        "agency_code": agency_code,
        "action": action,
        "document_id": document_id,
        "remote_addr": remote_addr,
        "details": canonical_details(details),
    }


def compute_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def record(
    session: Session,
    action: str,
    *,
    actor: Actor,
    document_id: str | None = None,
    agency_code: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one entry to the chain in the caller's transaction (flushed, never committed).

    Call it last before the commit: the head row stays locked until then, and every auditable
    write in the service waits for it.
    """
    if at is not None and at.tzinfo is None:
        raise ValueError("naive datetime given where UTC is required")
    when = (utcnow() if at is None else at).astimezone(UTC)
    body = canonical_details(details or {})
    head = _lock_head(session)
    event = AuditEvent(
        id=head.last_id + 1,
        at=when,
        actor=actor.username,
        agency_code=agency_code if agency_code is not None else actor.agency_code,
        action=action,
        document_id=document_id,
        remote_addr=actor.remote_addr,
        details=body,
        prev_hash=head.last_hash,
    )
    event.entry_hash = compute_hash(_fields_of(event, body))
    session.add(event)
    head.last_id = event.id
    head.last_hash = event.entry_hash
    session.flush()
    return event


def _fields_of(event: AuditEvent, details: Mapping[str, Any]) -> dict[str, Any]:
    return entry_fields(
        id=event.id,
        prev_hash=event.prev_hash,
        at=event.at,
        actor=event.actor,
        agency_code=event.agency_code,
        action=event.action,
        document_id=event.document_id,
        remote_addr=event.remote_addr,
        details=details,
    )


def _lock_head(session: Session) -> AuditHead:
    # FOR UPDATE on PostgreSQL; on SQLite the session's BEGIN IMMEDIATE already serialises writers.
    # populate_existing: a head loaded earlier in this session must not hide a newer append.
    statement = (
        select(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = session.execute(statement).scalar_one_or_none()
    if head is None:
        raise RuntimeError("audit_head row missing: the database was not migrated")
    return head


@dataclass(frozen=True)
class ChainCheck:
    """The result of recomputing the chain: intact, or the first entry where it breaks."""

    ok: bool
    entries: int
    first_broken_id: int | None = None
    problem: str | None = None
    broken_at: datetime | None = None  # time and action of the broken entry, when it exists
    broken_action: str | None = None
    head_id: int = 0
    head_hash: str = GENESIS_HASH

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken_id": self.first_broken_id,
            "problem": self.problem,
            "broken_at": format_time(self.broken_at) if self.broken_at else None,
            "broken_action": self.broken_action,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
        }


class _Raw(TypeDecorator[Any]):
    """A column read as the driver gives it, so a garbled value is reported, not raised."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value


@dataclass(frozen=True)
class _Row:
    id: int
    at: datetime | None
    actor: str
    agency_code: str | None
    action: str
    document_id: str | None
    remote_addr: str | None
    details: dict[str, Any] | None
    prev_hash: str
    entry_hash: str


def _parse_time(value: Any) -> datetime | None:
    # PostgreSQL gives a datetime; SQLite the text SQLAlchemy wrote ("2025-01-02 03:04:05.123456").
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_details(value: Any) -> dict[str, Any] | None:
    # PostgreSQL's driver parses json itself; SQLite gives the stored text.
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _rows(session: Session, batch: int) -> Iterator[_Row]:
    statement = (
        select(
            AuditEvent.id,
            type_coerce(AuditEvent.at, _Raw()),
            AuditEvent.actor,
            AuditEvent.agency_code,
            AuditEvent.action,
            AuditEvent.document_id,
            AuditEvent.remote_addr,
            type_coerce(AuditEvent.details, _Raw()),
            AuditEvent.prev_hash,
            AuditEvent.entry_hash,
        )
        .order_by(AuditEvent.id)
        .execution_options(yield_per=batch)
    )
    for row in session.execute(statement):
        yield _Row(
            id=row[0],
            at=_parse_time(row[1]),
            actor=row[2],
            agency_code=row[3],
            action=row[4],
            document_id=row[5],
            remote_addr=row[6],
            details=_parse_details(row[7]),
            prev_hash=row[8],
            entry_hash=row[9],
        )


def _describe(row: _Row) -> str:
    when = row.at.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M:%S") if row.at else "?"
    return f"mục #{row.id} ({when}, {row.action})"


def _span(first: int, last: int) -> str:
    return f"#{first}" if first == last else f"#{first} đến #{last}"


# A break: the first id where the chain fails, the reason, and the entry when it exists.
_Break = tuple[int, str, _Row | None]


def _row_problem(row: _Row, expected_id: int, link: str) -> _Break | None:
    """The first thing wrong with one entry, or None."""
    if row.id != expected_id:
        missing = _span(expected_id, row.id - 1)
        # The missing entry has no time or action to show; the reason names the one after it.
        return expected_id, f"thiếu mục {missing} (đã bị xóa) trước {_describe(row)}", None
    if row.at is None:
        return row.id, f"{_describe(row)}: thời điểm không đọc được (đã bị sửa)", row
    if row.details is None:
        return row.id, f"{_describe(row)}: phần chi tiết không phải JSON hợp lệ (đã bị sửa)", row
    if row.prev_hash != link:
        reason = (
            f"{_describe(row)} không nối tiếp mục trước: mã băm trước không khớp "
            "(mục này hoặc mục trước đã bị sửa)"
        )
        return row.id, reason, row
    try:
        recomputed: str | None = compute_hash(_row_fields(row))
    except (TypeError, ValueError):
        recomputed = None
    if recomputed != row.entry_hash:
        return row.id, f"{_describe(row)}: nội dung đã bị sửa (mã băm không khớp)", row
    return None


def _row_fields(row: _Row) -> dict[str, Any]:
    assert row.at is not None and row.details is not None
    return entry_fields(
        id=row.id,
        prev_hash=row.prev_hash,
        at=row.at,
        actor=row.actor,
        agency_code=row.agency_code,
        action=row.action,
        document_id=row.document_id,
        remote_addr=row.remote_addr,
        details=row.details,
    )


def verify_chain(session: Session, *, batch: int = 1000) -> ChainCheck:
    """Recompute every entry's hash and link in id order, and compare the head with the last one.

    Reads one snapshot: on PostgreSQL a fresh session's transaction is made REPEATABLE READ so
    appends committed meanwhile cannot make the head and the rows disagree.
    """
    if is_postgresql(session) and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = session.get(AuditHead, HEAD_ID, populate_existing=True)
    if head is None:
        return ChainCheck(
            ok=False, entries=0, problem="thiếu đầu chuỗi (bảng audit_head không có dòng 1)"
        )
    entries = 0
    link = GENESIS_HASH
    last_id = 0
    broken: _Break | None = None
    for row in _rows(session, batch):
        entries += 1
        if broken is None:
            broken = _row_problem(row, last_id + 1, link)
        link = row.entry_hash
        last_id = row.id
    if broken is None:
        broken = _head_problem(head, last_id, link)
    if broken is None:
        return ChainCheck(ok=True, entries=entries, head_id=head.last_id, head_hash=head.last_hash)
    broken_id, problem, entry = broken
    return ChainCheck(
        ok=False,
        entries=entries,
        first_broken_id=broken_id,
        problem=problem,
        broken_at=entry.at if entry else None,
        broken_action=entry.action if entry else None,
        head_id=head.last_id,
        head_hash=head.last_hash,
    )


def _head_problem(head: AuditHead, last_id: int, link: str) -> _Break | None:
    """What is wrong between the head row and the last entry, or None."""
    if head.last_id > last_id:
        missing = _span(last_id + 1, head.last_id)
        return last_id + 1, f"thiếu mục {missing} ở cuối chuỗi (đã bị xóa)", None
    if head.last_id < last_id:
        extra = _span(head.last_id + 1, last_id)
        reason = f"mục {extra} nằm sau mục cuối đã ghi ở đầu chuỗi (#{head.last_id})"
        return head.last_id + 1, reason, None
    if head.last_hash != link:
        return last_id, f"đầu chuỗi không khớp mã băm của mục cuối #{last_id}", None
    return None
