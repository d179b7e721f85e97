"""Forgeries through the issue workflow's blanks: filling them may write a number, nothing else."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signer.credentials import Credential
from signer.errors import SigningError
from signer.fields import MONTH_FIELD, NUMBER_FIELD
from signer.issuing import find_issue_blanks, prepare_draft
from signer.issuing.form import add_issue_fields, existing_fields, fill_issue_fields
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import VerificationReport, verify_pdf

Change = Callable[[IncrementalPdfFileWriter], None]
ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
# "năm 2026" on the date line of cong-van-cai-cach-hanh-chinh.pdf (page 1), in PDF points.
SIGNED_YEAR = (458.0, 695.5, 512.5, 713.5)


def _name(value: str) -> generic.NameObject:
    return generic.NameObject(value)


def _numbers(*values: float) -> generic.ArrayObject:
    return generic.ArrayObject(generic.FloatObject(v) for v in values)


def _update(data: bytes, change: Change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _signed_draft(
    sample_pdf: Path,
    tmp_path: Path,
    official: Credential,
    tweak: Change | None = None,
    options: SignOptions | None = None,
) -> Path:
    """The prepared draft, optionally altered by its author, signed by the official."""
    draft, signed = tmp_path / "draft.pdf", tmp_path / "signed.pdf"
    prepare_draft(sample_pdf, draft)
    if tweak is not None:
        draft.write_bytes(_update(draft.read_bytes(), tweak))
    sign_pdf(draft, signed, official, options or SignOptions(field_name="ChuKyLanhDao"))
    return signed


def _agency_signs_after(
    signed: Path, tmp_path: Path, agency: Credential, change: Change
) -> VerificationReport:
    out = tmp_path / "issued.pdf"
    sign_pdf(signed, out, agency, SignOptions(field_name="ChuKyCoQuan"), before_signing=change)
    return verify_pdf(out, trust=load_trust(development=True), offline=True)


def _helvetica(writer: IncrementalPdfFileWriter) -> generic.IndirectObject:
    return writer.add_object(
        generic.DictionaryObject(
            {
                _name("/Type"): _name("/Font"),
                _name("/Subtype"): _name("/Type1"),
                _name("/BaseFont"): _name("/Helvetica"),
            }
        )
    )


def _fill(
    name: str, value: str, content: bytes, field_changes: dict[str, generic.PdfObject] | None = None
) -> Change:
    """Fill ``name`` with ``value``, drawn by the appearance stream ``content`` (Helvetica)."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        field = existing_fields(writer)[name]
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
        stream = generic.StreamObject(
            {
                _name("/Type"): _name("/XObject"),
                _name("/Subtype"): _name("/Form"),
                _name("/BBox"): _numbers(0, 0, x2 - x1, y2 - y1),
                _name("/Resources"): generic.DictionaryObject(
                    {_name("/Font"): generic.DictionaryObject({_name("/Helv"): _helvetica(writer)})}
                ),
            },
            stream_data=content,
        )
        field["/V"] = generic.TextStringObject(value)
        field["/AP"] = generic.DictionaryObject({_name("/N"): writer.add_object(stream)})
        for key, item in (field_changes or {}).items():
            field[_name(key)] = item
        writer.update_container(field)

    return change


def _assert_official_failed(report: VerificationReport) -> None:
    assert report.verdict == "failed", report.reason
    by_field = {s.field: s for s in report.signatures}
    assert by_field["ChuKyLanhDao"].verdict == "failed"


BLACK_NUMBER = b"/Tx BMC q BT /Helv 12 Tf 0 g 2 4 Td (11) Tj ET Q EMC"


def _genuine_fill(writer: IncrementalPdfFileWriter) -> None:
    fill_issue_fields(writer, 11, ISSUED_AT)


def test_the_issue_fill_passes(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """The control for every test here: the issue's own fill is permitted."""
    signed = _signed_draft(sample_pdf, tmp_path, official)
    report = _agency_signs_after(signed, tmp_path, agency, _genuine_fill)
    assert report.verdict == "passed", report.reason


def test_a_black_number_drawn_by_hand_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """Only the issue's exact appearance is accepted: its glyphs are the value and nothing else."""
    signed = _signed_draft(sample_pdf, tmp_path, official)
    report = _agency_signs_after(signed, tmp_path, agency, _fill(MONTH_FIELD, "11", BLACK_NUMBER))
    _assert_official_failed(report)


def test_a_blank_moved_over_signed_text_fails_even_with_the_issue_fill(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """A crafted draft puts the month blank over "năm 2026": the number would overprint it."""

    def move(writer: IncrementalPdfFileWriter) -> None:
        field = existing_fields(writer)[MONTH_FIELD]
        field["/Rect"] = _numbers(*SIGNED_YEAR)
        writer.update_container(field)

    signed = _signed_draft(sample_pdf, tmp_path, official, tweak=move)
    report = _agency_signs_after(signed, tmp_path, agency, _genuine_fill)
    assert report.verdict == "failed"
    assert "blank" in report.reason


def test_a_blank_moved_over_signed_text_cannot_white_it_out(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """The draft's author puts the month blank over "năm 2026"; the official sees 2026 and signs.

    At issue a white box and "năm 2020" fill the widget: this passed before the appearance check.
    """

    def move(writer: IncrementalPdfFileWriter) -> None:
        field = existing_fields(writer)[MONTH_FIELD]
        field["/Rect"] = _numbers(*SIGNED_YEAR)
        writer.update_container(field)

    signed = _signed_draft(sample_pdf, tmp_path, official, tweak=move)
    white_out = b"1 g 0 0 54.5 18 re f 0 g BT /Helv 12 Tf 1 4 Td (nam 2020) Tj ET"
    report = _agency_signs_after(signed, tmp_path, agency, _fill(MONTH_FIELD, "11", white_out))
    _assert_official_failed(report)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"1 g BT /Helv 12 Tf 2 4 Td (11) Tj ET", id="white-text"),
        pytest.param(b"0 g BT 3 Tr /Helv 12 Tf 2 4 Td (11) Tj ET", id="render-mode"),
        pytest.param(b"q 1 1 1 rg 0 0 100 100 re f Q " + BLACK_NUMBER, id="white-box"),
        pytest.param(b"q /GS0 gs Q " + BLACK_NUMBER, id="graphics-state"),
        pytest.param(b"q /Im0 Do Q", id="xobject"),
    ],
)
def test_an_appearance_that_paints_more_than_black_text_fails(
    content: bytes, sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    signed = _signed_draft(sample_pdf, tmp_path, official)
    report = _agency_signs_after(signed, tmp_path, agency, _fill(NUMBER_FIELD, "12", content))
    _assert_official_failed(report)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("/DA", generic.TextStringObject("/CongVanSerif 13 Tf 1 g"), id="white-da"),
        pytest.param("/F", generic.NumberObject(2), id="hidden"),
        pytest.param("/Ff", generic.NumberObject(0), id="editable"),
    ],
)
def test_a_fill_that_changes_how_the_blank_is_shown_fails(
    key: str,
    value: generic.PdfObject,
    sample_pdf: Path,
    tmp_path: Path,
    official: Credential,
    agency: Credential,
) -> None:
    signed = _signed_draft(sample_pdf, tmp_path, official)
    change = _fill(NUMBER_FIELD, "12", BLACK_NUMBER, {key: value})
    _assert_official_failed(_agency_signs_after(signed, tmp_path, agency, change))


def test_a_fill_after_a_no_changes_certification_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """Our signer refuses to sign after it, so the fill comes as a bare incremental update."""
    options = SignOptions(field_name="ChuKyLanhDao", certify=True, docmdp="no_changes")
    signed = _signed_draft(sample_pdf, tmp_path, official, options=options)
    with pytest.raises(SigningError):
        _agency_signs_after(signed, tmp_path, agency, _genuine_fill)
    filled = _update(signed.read_bytes(), _genuine_fill)
    report = verify_pdf(filled, trust=load_trust(development=True), offline=True)
    _assert_official_failed(report)
    (official_report,) = report.signatures
    assert "certification" in " ".join(official_report.problems)


def test_a_workflow_field_created_after_the_signature_fails(
    sample_pdf: Path, tmp_path: Path, official: Credential, agency: Credential
) -> None:
    """Signed without blanks; the number field appears, filled, in the agency's revision."""
    signed = tmp_path / "signed.pdf"
    sign_pdf(sample_pdf, signed, official, SignOptions(field_name="ChuKyLanhDao"))

    def create(writer: IncrementalPdfFileWriter) -> None:
        # The same blanks prepare_draft would add, but after the official's signature.
        add_issue_fields(writer, find_issue_blanks(sample_pdf.read_bytes()))
        _fill(NUMBER_FIELD, "12", BLACK_NUMBER)(writer)

    _assert_official_failed(_agency_signs_after(signed, tmp_path, agency, create))
