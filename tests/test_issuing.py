"""The two-stage issue: the official signs the draft, the clerk numbers, dates and seals it."""

from __future__ import annotations

import io
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signer.credentials import Credential
from signer.devpki import DevServices
from signer.errors import IssueError, UnreadablePdfError
from signer.fields import NUMBER_FIELD
from signer.issuing import (
    FileCounter,
    InMemoryCounter,
    find_issue_blanks,
    issue_document,
    prepare_draft,
)
from signer.issuing.form import existing_fields, fill_issue_fields
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import VerificationReport, verify_pdf
from tests.support.devservices import agency_options, official_options

SAMPLES = [
    "cong-van-cai-cach-hanh-chinh.pdf",
    "quyet-dinh-quy-che-van-ban-dien-tu.pdf",
    "giay-moi-doi-thoai.pdf",
]
# 27 November 2026, 09:15 in Vietnam.
ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)


def _official_signs(source: Path, out: Path, official: Credential, dev: DevServices) -> None:
    sign_pdf(source, out, official, official_options(dev))


def _agency_options(dev: DevServices) -> SignOptions:
    return agency_options(dev)


def _verify(path: Path) -> VerificationReport:
    return verify_pdf(path, trust=load_trust(development=True), offline=True)


def _text(path: Path) -> str:
    result = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return " ".join(result.stdout.split())


@pytest.mark.parametrize("name", SAMPLES)
def test_blanks_are_found_between_the_printed_words(samples_dir: Path, name: str) -> None:
    blanks = find_issue_blanks((samples_dir / name).read_bytes())
    assert blanks.page == 0
    assert blanks.day is not None and blanks.month is not None
    for _, blank in blanks.items():
        assert 0 < blank.x2 - blank.x1 <= 72 and 0 < blank.y2 - blank.y1 <= 24
    assert blanks.number.x2 < blanks.day.x1 < blanks.month.x1  # "Số:" left, date right
    assert blanks.year == 2026


@pytest.mark.parametrize("name", SAMPLES)
def test_issue_fills_number_and_date_and_both_signatures_pass(
    samples_dir: Path,
    tmp_path: Path,
    name: str,
    official: Credential,
    agency: Credential,
    dev: DevServices,
    nss_db: str,
) -> None:
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    prepare_draft(samples_dir / name, draft)
    _official_signs(draft, signed, official, dev)
    counter = InMemoryCounter()
    result = issue_document(signed, issued, agency, counter, _agency_options(dev), now=ISSUED_AT)

    assert result.number == 1 and result.agency == "DEV.TPD.000"
    text = _text(issued)
    assert "Số: 01 /" in text
    assert "ngày 27 tháng 11 năm" in text
    assert "Số: 01" not in _text(signed)  # the official signed the blank draft

    report = _verify(issued)
    assert report.verdict == "passed", report.reason
    by_field = {s.field: s for s in report.signatures}
    assert by_field["ChuKyLanhDao"].modifications == "form_filling"
    assert by_field["ChuKyLanhDao"].verdict == "passed"
    assert by_field["ChuKyCoQuan"].verdict == "passed"

    pdfsig = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(issued)], capture_output=True, text=True, timeout=60
    )
    assert pdfsig.stdout.count("Signature is Valid.") == 2, pdfsig.stdout
    assert pdfsig.stdout.count("Certificate is Trusted.") == 2, pdfsig.stdout


def test_numbers_follow_each_other_and_the_issue_year_must_be_the_printed_one(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    draft, signed = tmp_path / "draft.pdf", tmp_path / "signed.pdf"
    prepare_draft(sample_pdf, draft)
    sign_pdf(draft, signed, official, SignOptions(field_name="ChuKyLanhDao"))
    counter = InMemoryCounter()
    numbers = [
        issue_document(signed, tmp_path / f"out{i}.pdf", agency, counter, now=ISSUED_AT).number
        for i in range(3)
    ]
    assert numbers == [1, 2, 3]
    # 31 December 2026, 16:30 UTC is 23:30 in Vietnam: still 2026, day 31 of month 12.
    last_evening = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    out = tmp_path / "last-evening.pdf"
    assert issue_document(signed, out, agency, counter, now=last_evening).number == 4
    assert "ngày 31 tháng 12 năm 2026" in _text(out)
    assert _verify(out).verdict == "passed"
    # An hour later it is 1 January 2027 in Vietnam: the draft says "năm 2026", so it is refused
    # before a number is taken; the new year's numbers start again from 01.
    new_year = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)
    with pytest.raises(IssueError, match="năm 2026"):
        issue_document(signed, tmp_path / "new-year.pdf", agency, counter, now=new_year)
    assert not (tmp_path / "new-year.pdf").exists()
    assert counter.next_number("DEV.TPD.000", 2027) == 1


def test_an_unprepared_draft_is_refused_without_using_a_number(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    signed = tmp_path / "signed.pdf"
    sign_pdf(sample_pdf, signed, official, SignOptions(field_name="ChuKyLanhDao"))
    counter = InMemoryCounter()
    with pytest.raises(IssueError, match="chưa có ô số"):
        issue_document(signed, tmp_path / "out.pdf", agency, counter, now=ISSUED_AT)
    assert not (tmp_path / "out.pdf").exists()
    assert counter.next_number("DEV.TPD.000", 2026) == 1


def test_an_issued_document_cannot_be_issued_again(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    prepare_draft(sample_pdf, draft)
    sign_pdf(draft, signed, official, SignOptions(field_name="ChuKyLanhDao"))
    counter = InMemoryCounter()
    issue_document(signed, issued, agency, counter, now=ISSUED_AT)
    with pytest.raises(IssueError, match="đã được ban hành"):
        issue_document(issued, tmp_path / "again.pdf", agency, counter, now=ISSUED_AT)
    with pytest.raises(IssueError, match="đã có"):
        prepare_draft(draft, tmp_path / "twice.pdf")


# --- changes between the two signatures that are not the workflow's own ---------------------


def _signed_draft(sample_pdf: Path, tmp_path: Path, official: Credential) -> bytes:
    draft, signed = tmp_path / "draft.pdf", tmp_path / "signed.pdf"
    prepare_draft(sample_pdf, draft)
    sign_pdf(draft, signed, official, SignOptions(field_name="ChuKyLanhDao"))
    return signed.read_bytes()


def _agency_signs_after(
    data: bytes, tmp_path: Path, agency: Credential, change: object
) -> VerificationReport:
    """Apply ``change`` to the writer in the agency's revision, sign, and verify."""
    source = tmp_path / "changed.pdf"
    source.write_bytes(data)
    out = tmp_path / "out.pdf"
    sign_pdf(
        source,
        out,
        agency,
        SignOptions(field_name="ChuKyCoQuan"),
        before_signing=change,  # type: ignore[arg-type]
    )
    return _verify(out)


def _set_number(value: str, rect: list[float] | None = None) -> object:
    def change(writer: IncrementalPdfFileWriter) -> None:
        field = existing_fields(writer)[NUMBER_FIELD]
        field["/V"] = generic.TextStringObject(value)
        if rect is not None:
            field["/Rect"] = generic.ArrayObject(generic.FloatObject(v) for v in rect)
        writer.update_container(field)

    return change


def _assert_official_failed(report: VerificationReport) -> None:
    assert report.verdict == "failed"
    by_field = {s.field: s for s in report.signatures}
    assert by_field["ChuKyLanhDao"].verdict == "failed"


def test_a_number_that_is_not_a_number_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    data = _signed_draft(sample_pdf, tmp_path, official)
    _assert_official_failed(_agency_signs_after(data, tmp_path, agency, _set_number("ĐÃ HỦY")))


def test_a_blank_grown_over_the_page_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    data = _signed_draft(sample_pdf, tmp_path, official)
    change = _set_number("12", rect=[50.0, 50.0, 550.0, 750.0])
    _assert_official_failed(_agency_signs_after(data, tmp_path, agency, change))


def test_an_annotation_between_the_signatures_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    data = _signed_draft(sample_pdf, tmp_path, official)

    def annotate(writer: IncrementalPdfFileWriter) -> None:
        page_ref = writer.find_page_for_modification(0)[0]
        page = page_ref.get_object()
        note = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.NameObject("/Type"): generic.NameObject("/Annot"),
                    generic.NameObject("/Subtype"): generic.NameObject("/FreeText"),
                    generic.NameObject("/Rect"): generic.ArrayObject(
                        generic.FloatObject(v) for v in (100, 400, 400, 450)
                    ),
                    generic.NameObject("/Contents"): generic.TextStringObject("Đã sửa"),
                    generic.NameObject("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
                }
            )
        )
        page["/Annots"].append(note)
        writer.update_container(page)

    report = _agency_signs_after(data, tmp_path, agency, annotate)
    _assert_official_failed(report)


def test_a_content_edit_between_the_signatures_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    data = _signed_draft(sample_pdf, tmp_path, official)

    def edit(writer: IncrementalPdfFileWriter) -> None:
        page_ref = writer.find_page_for_modification(0)[0]
        page = page_ref.get_object()
        stream = generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 100 Td (X) Tj ET")
        page["/Contents"] = writer.add_object(stream)
        writer.update_container(page)

    _assert_official_failed(_agency_signs_after(data, tmp_path, agency, edit))


def test_the_workflow_fill_alone_passes(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """The control for the four tests above: the same path with a proper number passes."""
    data = _signed_draft(sample_pdf, tmp_path, official)

    def fill(writer: IncrementalPdfFileWriter) -> None:
        fill_issue_fields(writer, 12, ISSUED_AT)

    report = _agency_signs_after(data, tmp_path, agency, fill)
    assert report.verdict == "passed", report.reason


# --- the counter the command line uses ------------------------------------------------------


def test_file_counter_is_gap_free_across_threads_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "so-di.json"
    taken: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        number = FileCounter(path).next_number("DEV.TPD.000", 2026)
        with lock:
            taken.append(number)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1, 21))
    assert FileCounter(path).next_number("DEV.TPD.000", 2026) == 21
    assert FileCounter(path).next_number("DEV.TPD.X01", 2026) == 1


def test_a_damaged_counter_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "so-di.json"
    path.write_text("{không phải json")
    with pytest.raises(IssueError, match="bị hỏng"):
        FileCounter(path).next_number("DEV.TPD.000", 2026)


def test_prepare_refuses_a_document_without_a_number_line(tmp_path: Path) -> None:
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    buffer = io.BytesIO()
    writer.write(buffer)
    blank = tmp_path / "blank.pdf"
    blank.write_bytes(buffer.getvalue())
    with pytest.raises((IssueError, UnreadablePdfError)):
        prepare_draft(blank, tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()
