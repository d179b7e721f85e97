"""Registers (sổ đăng ký): gap-free numbers per agency and year, and the books in official form.

Numbers follow Decree 30 Art. 15-16 and 22: outgoing and incoming numbers run from 1 on 1 January,
unique within the agency and year. A number is taken inside the caller's transaction and the
register row stays locked until that transaction ends, so a rolled-back document gives its number
back and no number is ever committed without the document that uses it.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import jinja2
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from exchange.db import dialect_insert
from exchange.enums import BusinessType, DeliveryStatus, DocumentState, RegisterKind
from exchange.errors import NotFoundError, ValidationError
from exchange.models import Agency, Delivery, Document, Register

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MAX_SERIES = 64

# Decree 30/2020/NĐ-CP, Appendix IV: the columns of the registers, in order.
OUTGOING_COLUMNS = (
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Người ký",
    "Nơi nhận văn bản",
    "Đơn vị, người nhận bản lưu",
    "Số lượng bản",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
)
INCOMING_COLUMNS = (
    "Ngày đến",
    "Số đến",
    "Tác giả",
    "Số, ký hiệu",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung",
    "Đơn vị hoặc người nhận",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
)
TITLES = {
    RegisterKind.OUTGOING: "SỔ ĐĂNG KÝ VĂN BẢN ĐI",
    RegisterKind.INCOMING: "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN",
}
URGENCY = {1: "Khẩn", 2: "Thượng khẩn", 3: "Hỏa tốc", 4: "Hỏa tốc hẹn giờ"}
FORMATS = ("csv", "html")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BULLETS = "-\u2013\u2022+ "  # hyphen, en dash, bullet: how "Nơi nhận" lines start


# --- Numbers -------------------------------------------------------------------------------


def take_number(
    session: Session, agency_id: int, kind: RegisterKind, year: int, series: str = ""
) -> int:
    """The next number of the agency's register for `year`, held until the transaction ends.

    Never commits: the caller's commit keeps the number, its rollback gives it back.
    """
    kind = RegisterKind(kind)
    if not 1 <= year <= 9999:
        raise ValidationError(f"năm của sổ đăng ký không hợp lệ: {year}")
    if len(series) > MAX_SERIES:
        raise ValidationError(f"tên sổ (series) dài quá {MAX_SERIES} ký tự")
    insert = dialect_insert(session)
    key = {"agency_id": agency_id, "kind": kind, "year": year, "series": series}
    # Create the register if it is missing; a concurrent creator makes this wait, then do nothing.
    session.execute(
        insert(Register)
        .values(**key, last_number=0)
        .on_conflict_do_nothing(index_elements=list(key))
    )
    where = (
        Register.agency_id == agency_id,
        Register.kind == kind,
        Register.year == year,
        Register.series == series,
    )
    # The row lock queues every other taker of this register behind our commit or rollback.
    # (SQLite has no FOR UPDATE; its sessions begin IMMEDIATE, which serialises writers.)
    locked = select(Register.last_number).where(*where).with_for_update()
    last = session.execute(locked).scalar_one()
    number = last + 1
    session.execute(update(Register).where(*where).values(last_number=number))
    return number


class DatabaseNumberSource:
    """A `signer.issuing.NumberSource` over an agency's outgoing register in the database."""

    def __init__(self, session: Session, agency_id: int, series: str = "") -> None:
        self.session = session
        self.agency_id = agency_id
        self.series = series

    def next_number(self, agency: str, year: int) -> int:
        """The next outgoing number; `agency` is the signer's label, the register is by id."""
        return take_number(self.session, self.agency_id, RegisterKind.OUTGOING, year, self.series)


# --- The books -----------------------------------------------------------------------------


def _day(moment: datetime | None) -> date | None:
    """The calendar day in Vietnam time, where register dates are counted."""
    # Imported here: signer.issuing loads pyHanko, which taking a number does not need.
    from signer.issuing import vietnam_date

    return vietnam_date(moment).date() if moment is not None else None


def _show(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day is not None else ""


def _type_and_subject(document_type: str, subject: str) -> str:
    return f"{document_type}: {subject}" if document_type else subject


@dataclass(frozen=True)
class OutgoingEntry:
    """One line of the outgoing register (sổ văn bản đi)."""

    number: int
    series: str
    number_notation: str
    document_date: date | None
    document_type: str
    subject: str
    signer: str
    recipients: tuple[str, ...]
    copy_kept_by: str
    copies: int
    sent_on: date | None
    note: str

    def cells(self) -> tuple[str, ...]:
        """The entry as printed, one string per column of `OUTGOING_COLUMNS`."""
        return (
            self.number_notation,
            _show(self.document_date),
            _type_and_subject(self.document_type, self.subject),
            self.signer,
            "\n".join(self.recipients),
            self.copy_kept_by,
            str(self.copies),
            _show(self.sent_on),
            "",
            self.note,
        )


@dataclass(frozen=True)
class IncomingEntry:
    """One line of the incoming register (sổ văn bản đến)."""

    received_on: date | None
    incoming_number: int
    issuing_agency: str
    number_notation: str
    document_date: date | None
    document_type: str
    subject: str
    assigned_to: str
    assigned_on: date | None
    note: str

    def cells(self) -> tuple[str, ...]:
        """The entry as printed, one string per column of `INCOMING_COLUMNS`."""
        return (
            _show(self.received_on),
            f"{self.incoming_number:02d}",
            self.issuing_agency,
            self.number_notation,
            _show(self.document_date),
            _type_and_subject(self.document_type, self.subject),
            self.assigned_to,
            _show(self.assigned_on),
            "",
            self.note,
        )


Entry = OutgoingEntry | IncomingEntry


def _printed_recipients(text: str) -> tuple[list[str], str]:
    """The lines of a printed "Nơi nhận" block, and the "Lưu:" line's holders apart."""
    lines: list[str] = []
    kept_by = ""
    for raw in unicodedata.normalize("NFC", text).splitlines():
        line = raw.strip().lstrip(BULLETS).rstrip(";.,").strip()
        lowered = line.casefold()
        if not line or lowered.startswith("nơi nhận"):
            continue
        if lowered.startswith("lưu"):
            kept_by = line[3:].lstrip(" :").strip()
        else:
            lines.append(line)
    return lines, kept_by


def _outgoing_note(document: Document) -> str:
    notes: list[str] = []
    if document.urgency in URGENCY:
        notes.append(URGENCY[document.urgency])
    earlier = document.supersedes
    if earlier is not None:
        verb = {
            BusinessType.REVOKE: "Thu hồi",
            BusinessType.UPDATE: "Cập nhật",
            BusinessType.REPLACE: "Thay thế",
        }.get(BusinessType(document.business_type), "Liên quan")
        notes.append(f"{verb} văn bản số {earlier.number_notation or '(chưa có số)'}")
    answered = document.reply_to
    if answered is not None:
        notes.append(
            f"Trả lời văn bản số {answered.number_notation or '(chưa có số)'}"
            f" của {answered.agency.name}"
        )
    if document.state == DocumentState.RECALLED:
        reason = f": {document.recall_reason}" if document.recall_reason else ""
        notes.append(f"Đã thu hồi{reason}")
    return "; ".join(notes)


def outgoing_register(
    session: Session, agency_id: int, year: int, series: str | None = None
) -> list[OutgoingEntry]:
    """The agency's numbered documents of `year` (one series, or all), in number order."""
    query = (
        select(Document)
        .where(
            Document.agency_id == agency_id,
            Document.number_year == year,
            Document.number.is_not(None),
        )
        .options(
            selectinload(Document.deliveries).selectinload(Delivery.recipient),
            selectinload(Document.supersedes),
            selectinload(Document.reply_to).selectinload(Document.agency),
        )
        .order_by(Document.number_series, Document.number)
    )
    if series is not None:
        query = query.where(Document.number_series == series)
    entries = []
    for document in session.scalars(query):
        assert document.number is not None  # filtered above
        names = [delivery.recipient.name for delivery in document.deliveries]
        printed, kept_by = _printed_recipients(document.recipients_text)
        known = {name.casefold() for name in names}
        extra = [line for line in printed if line.casefold() not in known]
        entries.append(
            OutgoingEntry(
                number=document.number,
                series=document.number_series,
                number_notation=document.number_notation,
                document_date=_day(document.issued_at),
                document_type=document.document_type,
                subject=document.subject,
                signer=document.signer_name,
                recipients=(*names, *extra),
                copy_kept_by=kept_by,
                copies=len(document.deliveries),
                sent_on=_day(document.sent_at),
                note=_outgoing_note(document),
            )
        )
    return entries


def _incoming_note(delivery: Delivery) -> str:
    document = delivery.document
    notes: list[str] = []
    if document.urgency in URGENCY:
        notes.append(URGENCY[document.urgency])
    if document.due_date is not None:
        notes.append(f"Hạn xử lý: {_show(document.due_date)}")
    if delivery.status == DeliveryStatus.REFUSED:
        notes.append(f"Trả lại: {delivery.reason}" if delivery.reason else "Trả lại")
    if delivery.status == DeliveryStatus.RECALL_ACCEPTED or delivery.hidden:
        notes.append("Đã thu hồi theo yêu cầu của nơi gửi")
    return "; ".join(notes)


def incoming_register(session: Session, agency_id: int, year: int) -> list[IncomingEntry]:
    """The agency's registered incoming documents of `year`, in incoming-number order."""
    query = (
        select(Delivery)
        .where(
            Delivery.recipient_id == agency_id,
            Delivery.incoming_year == year,
            Delivery.incoming_number.is_not(None),
        )
        .options(selectinload(Delivery.document).selectinload(Document.agency))
        .order_by(Delivery.incoming_number)
    )
    entries = []
    for delivery in session.scalars(query):
        assert delivery.incoming_number is not None  # filtered above
        document = delivery.document
        entries.append(
            IncomingEntry(
                received_on=_day(delivery.received_at or delivery.registered_at),
                incoming_number=delivery.incoming_number,
                issuing_agency=document.agency.name,
                number_notation=document.number_notation,
                document_date=_day(document.issued_at),
                document_type=document.document_type,
                subject=document.subject,
                assigned_to=delivery.assigned_to or "",
                assigned_on=_day(delivery.assigned_at),
                note=_incoming_note(delivery),
            )
        )
    return entries


# --- Printing ------------------------------------------------------------------------------


def _columns(kind: RegisterKind, entries: Sequence[Entry]) -> tuple[str, ...]:
    expected = OutgoingEntry if kind == RegisterKind.OUTGOING else IncomingEntry
    if any(not isinstance(entry, expected) for entry in entries):
        raise TypeError(f"a {kind} register takes only {expected.__name__} rows")
    return OUTGOING_COLUMNS if kind == RegisterKind.OUTGOING else INCOMING_COLUMNS


def register_csv(kind: RegisterKind, entries: Sequence[Entry]) -> str:
    """The register as CSV with Vietnamese headers, starting with a BOM so Excel reads UTF-8."""
    columns = _columns(RegisterKind(kind), entries)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([_inert(cell) for cell in entry.cells()] for entry in entries)
    return "\ufeff" + buffer.getvalue()


def _inert(cell: str) -> str:
    # A subject written by another agency must not become a spreadsheet formula (CSV injection).
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_register_html(
    agency_name: str, agency_code: str, kind: RegisterKind, year: int, entries: Sequence[Entry]
) -> str:
    """A printable page of the register in the official layout (A4 landscape, Times New Roman)."""
    kind = RegisterKind(kind)
    columns = _columns(kind, entries)
    numbers = [
        entry.number if isinstance(entry, OutgoingEntry) else entry.incoming_number
        for entry in entries
    ]
    template = _templates().get_template("register.html")
    return template.render(
        agency_name=agency_name,
        agency_code=agency_code,
        kind=kind.value,
        title=TITLES[kind],
        year=year,
        columns=columns,
        rows=[entry.cells() for entry in entries],
        first=f"{min(numbers):02d}" if numbers else "",
        last=f"{max(numbers):02d}" if numbers else "",
    )


def export_register(
    session: Session, agency_code: str, kind: RegisterKind, year: int, output_format: str
) -> str:
    """The register of the agency with this identifier, as CSV or as the HTML print view."""
    kind = RegisterKind(kind)
    if output_format not in FORMATS:
        raise ValidationError(f"định dạng không hỗ trợ: {output_format} (chọn csv hoặc html)")
    agency = session.scalars(select(Agency).where(Agency.code == agency_code)).one_or_none()
    if agency is None:
        raise NotFoundError(f"không có cơ quan nào mang mã định danh {agency_code!r}")
    entries: Sequence[Entry] = (
        outgoing_register(session, agency.id, year)
        if kind == RegisterKind.OUTGOING
        else incoming_register(session, agency.id, year)
    )
    if output_format == "csv":
        return register_csv(kind, entries)
    return render_register_html(agency.name, agency.code, kind, year, entries)
