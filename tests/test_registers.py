"""Registers: gap-free numbers per agency, kind and year, and the books in their official layout."""

from __future__ import annotations

import csv
import io
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.enums import DeliveryStatus, DocumentState, RegisterKind
from exchange.errors import ValidationError
from exchange.models import Agency, Delivery, Document, Register, StoredFile, User
from exchange.services.registers import (
    INCOMING_COLUMNS,
    OUTGOING_COLUMNS,
    DatabaseNumberSource,
    IncomingEntry,
    OutgoingEntry,
    incoming_register,
    outgoing_register,
    register_csv,
    render_register_html,
    take_number,
)
from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, dev_p12_path
from signer.issuing import NumberSource, issue_document, prepare_draft, vietnam_date
from tests.support.cli import run_cli

OUT = RegisterKind.OUTGOING
IN = RegisterKind.INCOMING
HOSTILE = "V/v <script>alert('x')</script> & cải cách hành chính"


# --- Rows made directly with the ORM, as the lead's flows would leave them. ------------------


def make_agency(session: Session, code: str, name: str, parent: Agency | None = None) -> Agency:
    agency = Agency(code=code, name=name, parent=parent)
    session.add(agency)
    session.flush()
    return agency


def make_author(session: Session) -> tuple[User, StoredFile]:
    user = User(username="vanthu", full_name="Trần Thị Bình", password_hash="-")
    stored = StoredFile(sha256="ab" * 32, size=1234)
    session.add_all([user, stored])
    session.flush()
    return user, stored


def make_document(
    session: Session, agency: Agency, author: tuple[User, StoredFile], **fields: Any
) -> Document:
    user, stored = author
    values: dict[str, Any] = {
        "public_id": str(uuid.uuid4()),
        "agency_id": agency.id,
        "created_by_id": user.id,
        "state": DocumentState.SENT,
        "document_type": "Công văn",
        "notation": "UBND-VP",
        "subject": "V/v báo cáo",
        "original_file": stored.sha256,
        "current_file": stored.sha256,
    }
    values.update(fields)
    document = Document(**values)
    session.add(document)
    session.flush()
    return document


def deliver(session: Session, document: Document, recipient: Agency, **fields: Any) -> Delivery:
    delivery = Delivery(
        public_id=str(uuid.uuid4()),
        document_id=document.id,
        recipient_id=recipient.id,
        status=fields.pop("status", DeliveryStatus.REGISTERED),
        **fields,
    )
    session.add(delivery)
    session.flush()
    return delivery


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Books:
    district: Agency
    tanthoi: Agency
    tanphu: Agency


@pytest.fixture
def books(session: Session) -> Books:
    """A district and two communes with a year of outgoing and incoming documents, committed."""
    district = make_agency(session, "DEV.TPD.000", "Ủy ban nhân dân huyện Tân Phú Đông")
    tanthoi = make_agency(session, "DEV.TPD.X01", "Ủy ban nhân dân xã Tân Thới", district)
    tanphu = make_agency(session, "DEV.TPD.X02", "Ủy ban nhân dân xã Tân Phú", district)
    author = make_author(session)
    # Number 2 is created first: the register follows numbers, not insertion order.
    second = make_document(
        session,
        district,
        author,
        number=2,
        number_year=2026,
        subject=HOSTILE,
        urgency=3,
        signer_name="Nguyễn Văn An",
        recipients_text=(
            "Nơi nhận:\n- Như trên;\n- Ủy ban nhân dân xã Tân Thới;\n- Lưu: VT, VP.\n"
        ),
        issued_at=utc(2026, 3, 5, 3, 0),
        sent_at=utc(2026, 3, 6, 1, 0),
    )
    deliver(session, second, tanthoi, incoming_number=1, incoming_year=2026)
    deliver(
        session,
        second,
        tanphu,
        incoming_number=5,
        incoming_year=2026,
        received_at=utc(2026, 3, 6, 17, 30),  # 7 March in Vietnam
        assigned_to="Công chức Văn phòng - Thống kê",
        assigned_at=utc(2026, 3, 9, 2, 0),
    )
    # Issued at 01:30 on 1 January in Vietnam, still 31 December in UTC.
    make_document(
        session,
        district,
        author,
        number=1,
        number_year=2026,
        state=DocumentState.ISSUED,
        document_type="Quyết định",
        subject="Về việc ban hành quy chế văn bản điện tử",
        signer_name="Lê Thị Cúc",
        issued_at=utc(2025, 12, 31, 18, 30),
    )
    make_document(session, district, author, number=7, number_year=2025, subject="Năm trước")
    make_document(session, district, author, state=DocumentState.DRAFT, subject="Dự thảo")
    from_commune = make_document(
        session,
        tanthoi,
        author,
        number=1,
        number_year=2026,
        notation="UBND",
        document_type="Báo cáo",
        subject="Báo cáo tình hình quý I",
        issued_at=utc(2026, 2, 1, 2, 0),
        due_date=date(2026, 2, 20),
    )
    deliver(
        session,
        from_commune,
        tanphu,
        incoming_number=3,
        incoming_year=2026,
        status=DeliveryStatus.REFUSED,
        reason="Gửi nhầm nơi nhận",
        received_at=utc(2026, 2, 2, 1, 0),
    )
    deliver(session, from_commune, district, status=DeliveryStatus.ARRIVED)  # not registered
    last_year = make_document(session, tanthoi, author, number=9, number_year=2025)
    deliver(session, last_year, tanphu, incoming_number=40, incoming_year=2025)
    session.commit()
    return Books(district=district, tanthoi=tanthoi, tanphu=tanphu)


# --- Numbers ----------------------------------------------------------------------------------


def test_numbers_start_at_one_and_follow_each_other(session: Session) -> None:
    agency = make_agency(session, "DEV.TPD.000", "Huyện")
    session.commit()
    assert [take_number(session, agency.id, OUT, 2026) for _ in range(3)] == [1, 2, 3]
    session.commit()
    assert take_number(session, agency.id, OUT, 2026) == 4
    session.commit()
    row = session.get(Register, (agency.id, OUT, 2026, ""))
    assert row is not None and row.last_number == 4


def test_numbers_are_kept_per_agency_kind_series_and_year(session: Session) -> None:
    district = make_agency(session, "DEV.TPD.000", "Huyện")
    commune = make_agency(session, "DEV.TPD.X01", "Xã", district)
    session.commit()
    assert take_number(session, district.id, OUT, 2026) == 1
    assert take_number(session, district.id, OUT, 2026) == 2
    assert take_number(session, commune.id, OUT, 2026) == 1
    assert take_number(session, district.id, IN, 2026) == 1
    assert take_number(session, district.id, OUT, 2026, series="QĐ") == 1
    # A new year starts at 1 again, and the old year carries on where it stopped.
    assert take_number(session, district.id, OUT, 2027) == 1
    assert take_number(session, district.id, OUT, 2026) == 3
    session.commit()
    last = {
        (row.agency_id, row.kind, row.year, row.series): row.last_number
        for row in session.scalars(select(Register))
    }
    assert last == {
        (district.id, OUT, 2026, ""): 3,
        (commune.id, OUT, 2026, ""): 1,
        (district.id, IN, 2026, ""): 1,
        (district.id, OUT, 2026, "QĐ"): 1,
        (district.id, OUT, 2027, ""): 1,
    }


def test_a_rolled_back_transaction_gives_its_number_back(session: Session) -> None:
    agency = make_agency(session, "DEV.TPD.000", "Huyện")
    session.commit()
    assert take_number(session, agency.id, OUT, 2026) == 1
    session.commit()
    assert take_number(session, agency.id, OUT, 2026) == 2
    session.rollback()
    assert take_number(session, agency.id, OUT, 2026) == 2
    session.commit()
    # The first number of a year, rolled back: the register itself was never created.
    assert take_number(session, agency.id, IN, 2026) == 1
    session.rollback()
    assert session.get(Register, (agency.id, IN, 2026, "")) is None
    assert take_number(session, agency.id, IN, 2026) == 1


def test_take_number_leaves_the_commit_to_the_caller(session_factory: Any) -> None:
    with session_factory() as session:
        agency_id = make_agency(session, "DEV.TPD.000", "Huyện").id
        session.commit()
        take_number(session, agency_id, OUT, 2026)
        take_number(session, agency_id, OUT, 2026)
    # Closed without a commit: nothing was kept.
    with session_factory() as session:
        assert session.get(Register, (agency_id, OUT, 2026, "")) is None
        assert take_number(session, agency_id, OUT, 2026) == 1


@pytest.mark.parametrize("year", [0, -1, 10000])
def test_take_number_refuses_a_year_outside_the_calendar(session: Session, year: int) -> None:
    agency = make_agency(session, "DEV.TPD.000", "Huyện")
    with pytest.raises(ValidationError, match="năm"):
        take_number(session, agency.id, OUT, year)


def test_issue_document_numbers_from_the_outgoing_register(
    session: Session, sample_pdf: Path, tmp_path: Path
) -> None:
    agency = make_agency(session, "DEV.TPD.000", "Huyện")
    session.commit()
    draft = tmp_path / "draft.pdf"
    prepare_draft(sample_pdf, draft)
    credential = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    numbers: NumberSource = DatabaseNumberSource(session, agency.id)
    issued_at = utc(2026, 11, 27, 2, 15)
    first = issue_document(draft, tmp_path / "1.pdf", credential, numbers, now=issued_at)
    second = issue_document(draft, tmp_path / "2.pdf", credential, numbers, now=issued_at)
    assert (first.number, second.number) == (1, 2)
    session.rollback()  # neither document was saved: both numbers come back
    again = issue_document(draft, tmp_path / "3.pdf", credential, numbers, now=issued_at)
    assert again.number == 1
    session.commit()
    row = session.get(Register, (agency.id, OUT, 2026, ""))
    assert row is not None and row.last_number == 1


# --- The books --------------------------------------------------------------------------------


def test_outgoing_register_lists_the_year_in_number_order(session: Session, books: Books) -> None:
    entries = outgoing_register(session, books.district.id, 2026)
    assert [entry.number for entry in entries] == [1, 2]
    first, second = entries
    assert first == OutgoingEntry(
        number=1,
        series="",
        number_notation="01/UBND-VP",
        document_date=date(2026, 1, 1),
        document_type="Quyết định",
        subject="Về việc ban hành quy chế văn bản điện tử",
        signer="Lê Thị Cúc",
        recipients=(),
        copy_kept_by="",
        copies=0,
        sent_on=None,
        note="",
    )
    assert second.number_notation == "02/UBND-VP"
    assert second.document_date == date(2026, 3, 5)
    assert second.recipients == (
        "Ủy ban nhân dân xã Tân Thới",
        "Ủy ban nhân dân xã Tân Phú",
        "Như trên",
    )
    assert second.copy_kept_by == "VT, VP"
    assert second.copies == 2
    assert second.sent_on == date(2026, 3, 6)
    assert second.note == "Hỏa tốc"
    assert second.cells()[:3] == ("02/UBND-VP", "05/03/2026", f"Công văn: {HOSTILE}")
    assert outgoing_register(session, books.district.id, 2025)[0].number == 7
    assert outgoing_register(session, books.tanphu.id, 2026) == []


def test_incoming_register_lists_registered_deliveries_in_number_order(
    session: Session, books: Books
) -> None:
    entries = incoming_register(session, books.tanphu.id, 2026)
    assert [entry.incoming_number for entry in entries] == [3, 5]
    refused, passed_on = entries
    assert refused.issuing_agency == "Ủy ban nhân dân xã Tân Thới"
    assert refused.note == "Hạn xử lý: 20/02/2026; Trả lại: Gửi nhầm nơi nhận"
    assert passed_on == IncomingEntry(
        received_on=date(2026, 3, 7),
        incoming_number=5,
        issuing_agency="Ủy ban nhân dân huyện Tân Phú Đông",
        number_notation="02/UBND-VP",
        document_date=date(2026, 3, 5),
        document_type="Công văn",
        subject=HOSTILE,
        assigned_to="Công chức Văn phòng - Thống kê",
        assigned_on=date(2026, 3, 9),
        note="Hỏa tốc",
    )
    assert passed_on.cells() == (
        "07/03/2026",
        "05",
        "Ủy ban nhân dân huyện Tân Phú Đông",
        "02/UBND-VP",
        "05/03/2026",
        f"Công văn: {HOSTILE}",
        "Công chức Văn phòng - Thống kê",
        "09/03/2026",
        "",
        "Hỏa tốc",
    )
    # The district's delivery has arrived but is not registered: no incoming number, no line.
    assert incoming_register(session, books.district.id, 2026) == []
    assert [e.incoming_number for e in incoming_register(session, books.tanphu.id, 2025)] == [40]


def test_register_csv_opens_in_excel_with_vietnamese_headers(
    session: Session, books: Books
) -> None:
    text = register_csv(OUT, outgoing_register(session, books.district.id, 2026))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert tuple(rows[0]) == OUTGOING_COLUMNS
    assert rows[0][0] == "Số, ký hiệu văn bản"
    assert [row[0] for row in rows[1:]] == ["01/UBND-VP", "02/UBND-VP"]
    assert rows[2][2] == f"Công văn: {HOSTILE}"
    assert rows[2][4].splitlines() == [
        "Ủy ban nhân dân xã Tân Thới",
        "Ủy ban nhân dân xã Tân Phú",
        "Như trên",
    ]
    incoming = register_csv(IN, incoming_register(session, books.tanphu.id, 2026))
    parsed = list(csv.reader(io.StringIO(incoming.removeprefix("\ufeff"))))
    assert tuple(parsed[0]) == INCOMING_COLUMNS
    assert [row[1] for row in parsed[1:]] == ["03", "05"]


def test_register_csv_keeps_a_hostile_subject_from_becoming_a_formula() -> None:
    entry = IncomingEntry(
        received_on=date(2026, 3, 7),
        incoming_number=1,
        issuing_agency="@SUM(1+1)",
        number_notation="01/UBND",
        document_date=None,
        document_type="",
        subject='=HYPERLINK("http://example.invalid","Bấm vào đây")',
        assigned_to="-1+2",
        assigned_on=None,
        note="",
    )
    row = list(csv.reader(io.StringIO(register_csv(IN, [entry])[1:])))[1]
    assert row[2] == "'@SUM(1+1)"
    assert row[5] == '\'=HYPERLINK("http://example.invalid","Bấm vào đây")'
    assert row[6] == "'-1+2"
    assert row[1] == "01"


def test_register_csv_refuses_rows_of_the_other_book(session: Session, books: Books) -> None:
    with pytest.raises(TypeError):
        register_csv(IN, outgoing_register(session, books.district.id, 2026))


class _Cells(HTMLParser):
    """The text of every body cell of the page, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._in = tag
            if tag == "td":
                self.rows[-1].append("")
            else:
                self.headers.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "td":
            self.rows[-1][-1] += data
        elif self._in == "th":
            self.headers[-1] += data


def test_register_html_is_the_printable_book(session: Session, books: Books) -> None:
    entries = incoming_register(session, books.tanphu.id, 2026)
    page = render_register_html("Ủy ban nhân dân xã Tân Phú", "DEV.TPD.X02", IN, 2026, entries)
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in page
    assert "size: A4 landscape" in page
    assert '"Times New Roman"' in page
    assert "Ủy ban nhân dân xã Tân Phú" in page and "Năm 2026" in page
    assert "Từ số 03 đến số 05" in page
    # Data is escaped: the hostile subject is shown, never run.
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; cải cách" in page
    cells = _Cells()
    cells.feed(page)
    assert cells.headers[:10] == list(INCOMING_COLUMNS)
    assert cells.headers[10:] == [str(n) for n in range(1, 11)]
    body = [row for row in cells.rows if row]
    assert [row[1] for row in body] == ["03", "05"]
    assert body[1][5] == f"Công văn: {HOSTILE}"


def test_register_html_outgoing_and_empty(session: Session, books: Books) -> None:
    entries = outgoing_register(session, books.district.id, 2026)
    page = render_register_html("Huyện <b>", "DEV.TPD.000", OUT, 2026, entries)
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐI" in page and "Huyện &lt;b&gt;" in page
    cells = _Cells()
    cells.feed(page)
    assert cells.headers[:10] == list(OUTGOING_COLUMNS)
    assert [row[0] for row in cells.rows if row] == ["01/UBND-VP", "02/UBND-VP"]
    empty = render_register_html("Xã", "DEV.TPD.X01", OUT, 2031, [])
    assert "Chưa có văn bản nào được đăng ký trong năm 2031." in empty
    assert "Từ số" not in empty


# --- The command line -------------------------------------------------------------------------


def congvan_on(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"CONGVAN_DATABASE_URL": database_url})


def test_cli_exports_both_books(
    session: Session, books: Books, database_url: str, tmp_path: Path
) -> None:
    session.close()  # SQLite: leave the database to the command
    target = tmp_path / "so-di.csv"
    result = congvan_on(
        database_url,
        *("registers", "export", "--agency", "DEV.TPD.000", "--kind", "outgoing"),
        *("--year", "2026", "-o", str(target)),
    )
    assert result.returncode == 0, result.stderr
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == OUTGOING_COLUMNS
    assert [row[0] for row in rows[1:]] == ["01/UBND-VP", "02/UBND-VP"]
    assert [p.name for p in tmp_path.iterdir()] == ["so-di.csv"]  # no temporary file left

    page = tmp_path / "so-den.html"
    result = congvan_on(
        database_url,
        *("registers", "export", "--agency", "DEV.TPD.X02", "--kind", "incoming"),
        *("--year", "2026", "--format", "html", "-o", str(page)),
    )
    assert result.returncode == 0, result.stderr
    text = page.read_text("utf-8")
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in text and "Gửi nhầm nơi nhận" in text

    # Without --year: the current year in Vietnam, printed on standard output.
    result = congvan_on(
        database_url,
        *("registers", "export", "--agency", "DEV.TPD.X02", "--kind", "incoming"),
        *("--format", "html"),
    )
    assert result.returncode == 0, result.stderr
    assert f"Năm {vietnam_date(datetime.now(UTC)).year}" in result.stdout


def test_cli_unknown_agency_is_one_clear_line(
    session: Session, books: Books, database_url: str, tmp_path: Path
) -> None:
    session.close()
    target = tmp_path / "so.csv"
    result = congvan_on(
        database_url,
        *("registers", "export", "--agency", "DEV.KHONG.CO", "--kind", "outgoing"),
        *("-o", str(target)),
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "congvan: không có cơ quan nào mang mã định danh 'DEV.KHONG.CO'"
    ]
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_cli_without_a_database_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    result = congvan_on(
        f"sqlite:///{missing}",
        *("registers", "export", "--agency", "DEV.TPD.000", "--kind", "outgoing"),
    )
    assert result.returncode == 1
    assert "chưa có cơ sở dữ liệu" in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists()
