"""Blanks found by where the characters stand, whatever order the producer wrote them in; blanks
given by hand for scans and unusual layouts, and the verifier's rule for them."""

from __future__ import annotations

import io
import random
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from signer.appearance.resources import serif_font
from signer.credentials import Credential
from signer.devpki import DevServices
from signer.errors import BlankPlacementError, BlanksNotFoundError
from signer.fields import DAY_FIELD, MONTH_FIELD, NUMBER_FIELD
from signer.issuing import (
    InMemoryCounter,
    IssueBlanks,
    find_issue_blanks,
    given_blank,
    issue_document,
    prepare_draft,
)
from signer.issuing.blanks import Blank
from signer.issuing.form import existing_fields
from signer.layout import find_layout
from signer.pagetext import Glyph, group_lines
from signer.signing import sign_pdf
from signer.trust import load_trust
from signer.verification import VerificationReport, verify_pdf
from tests.support.cli import assert_one_clear_line, run_cli
from tests.support.devservices import agency_options, official_options
from tests.support.pdfs import SIGNATURE_PLACE, make_scan

ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # 27 November 2026 in Vietnam
# Letters with two marks: LibreOffice draws them from a fallback font when the body font lacks
# them, in runs of their own.
STACKED = set("ẤẦẨẪẬẮẰẲẴẶẾỀỂỄỆỐỒỔỖỘỚỜỞỠỢỨỪỬỮỰấầẩẫậắằẳẵặếềểễệốồổỗộớờởỡợứừửữự")
NUMBER_GAP, DATE_GAP = 23.0, 18.0


@dataclass(frozen=True)
class Run:
    """Text drawn from one origin: what a producer writes with one Tj."""

    text: str
    x: float
    y: float
    size: float
    bold: bool = False
    fallback: bool = False  # drawn with another font, as a fallback for a missing glyph


# A Decree 30 heading, a body and a signer block: (x, baseline, size, bold, pieces), where a
# number in the pieces is a blank of that width left between the printed words.
DOCUMENT: list[tuple[float, float, float, bool, list[str | float]]] = [
    (95, 760, 13, False, ["ỦY BAN NHÂN DÂN"]),
    (275, 760.2, 12, True, ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"]),
    (85, 745, 13, True, ["HUYỆN TÂN PHÚ ĐÔNG"]),
    (315, 745, 13, True, ["Độc lập - Tự do - Hạnh phúc"]),
    (110, 700.8, 13, False, ["Số:", NUMBER_GAP, "/UBND-VP"]),
    (283, 700.6, 13, False, ["Tân Phú Đông, ngày", DATE_GAP, "tháng", DATE_GAP, "năm 2026"]),
    (95, 684, 12, False, ["V/v đẩy mạnh cải cách hành chính"]),
    (160, 620, 14, False, ["Kính gửi: Ủy ban nhân dân các xã trên địa bàn huyện."]),
    (85, 590, 14, False, ["Đề nghị các xã báo cáo kết quả thực hiện trước ngày 15 hằng tháng."]),
    (85, 296, 12, True, ["Nơi nhận:"]),
    (380, 296, 13, True, ["KT. CHỦ TỊCH"]),
    (380, 281, 13, True, ["PHÓ CHỦ TỊCH"]),
    (365, 160, 14, True, ["Trần Thị Hồng Nhung"]),
]


def _layout(document: list[tuple[float, float, float, bool, list[str | float]]]) -> list[Run]:
    """Each word of the document as a run at its place on the page."""
    runs = []
    for x, y, size, bold, pieces in document:
        font = serif_font("bold" if bold else "regular")
        for piece in pieces:
            if isinstance(piece, float):
                x += piece
                continue
            for index, word in enumerate(piece.split(" ")):
                if index:
                    x += font.width(" ", size)
                runs.append(Run(word, x, y, size, bold))
                x += font.width(word, size)
    return runs


def _write(runs: list[Run], order: str) -> list[Run]:
    """The runs in the order a producer writes them.

    ``ordered``: word by word. ``scrambled``: letters with stacked marks in runs of their own
    from a fallback font, and every run shuffled. ``reversed``: each word letter by letter,
    right to left, lines bottom up.
    """
    if order == "ordered":
        return runs
    out: list[Run] = []
    for run in runs:
        font = serif_font("bold" if run.bold else "regular")
        x = run.x
        pieces: list[Run] = []
        for char in run.text:
            pieces.append(Run(char, x, run.y, run.size, run.bold, fallback=char in STACKED))
            x += font.width(char, run.size)
        if order == "reversed":
            out.extend(reversed(pieces))
            continue
        # Keep the other letters together: one run per stretch between fallback letters.
        merged: list[Run] = []
        for piece in pieces:
            last = merged[-1] if merged else None
            if last is not None and not piece.fallback and not last.fallback:
                merged[-1] = Run(last.text + piece.text, last.x, last.y, last.size, last.bold)
            else:
                merged.append(piece)
        out.extend(merged)
    if order == "reversed":
        return sorted(out, key=lambda r: r.y)  # bottom line first, each word's letters reversed
    random.Random(8).shuffle(out)
    return out


def _pdf(runs: list[Run]) -> bytes:
    writer = PdfFileWriter()  # type: ignore[no-untyped-call]
    fonts = {
        "/F1": serif_font("regular"),
        "/F2": serif_font("bold"),
    }
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject(name): font.embed(writer) for name, font in fonts.items()}
            )
        }
    )
    content = bytearray()
    for run in runs:
        # The fallback font: drawn from the other face, as LibreOffice does for a missing glyph.
        name = "/F2" if run.bold != run.fallback else "/F1"
        font = fonts[name]
        content += b"BT %s %.2f Tf 1 0 0 1 %.3f %.3f Tm %s Tj ET\n" % (
            name.encode(),
            run.size,
            run.x,
            run.y,
            font.encode(run.text),
        )
    stream = writer.add_object(generic.StreamObject(stream_data=bytes(content)))
    writer.insert_page(PageObject(stream, (0, 0, 595, 842), resources))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _expected_blanks() -> dict[str, tuple[float, float]]:
    """Left and right edges of the three blanks, from where the words were put."""
    font = serif_font("regular")
    number_left = 110 + font.width("Số:", 13)
    day_left = 283 + font.width("Tân Phú Đông, ngày", 13)
    month_left = day_left + DATE_GAP + font.width("tháng", 13)
    return {
        NUMBER_FIELD: (number_left + 1.5, number_left + NUMBER_GAP - 1.5),
        DAY_FIELD: (day_left + 1.5, day_left + DATE_GAP - 1.5),
        MONTH_FIELD: (month_left + 1.5, month_left + DATE_GAP - 1.5),
    }


def _sign_and_issue(
    draft: Path,
    tmp_path: Path,
    official: Credential,
    agency: Credential,
    *,
    fallback: bool,
    dev: DevServices,
) -> VerificationReport:
    """The official's visible signature, then the issue; the issued file's report."""
    place = SIGNATURE_PLACE if fallback else None
    signed, issued = tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    sign_pdf(draft, signed, official, official_options(dev, fallback=place))
    options = agency_options(dev, fallback=place)
    issue_document(signed, issued, agency, InMemoryCounter(), options, now=ISSUED_AT)
    return verify_pdf(issued, trust=load_trust(development=True), offline=True)


def _edges(blanks: IssueBlanks) -> dict[str, tuple[float, float]]:
    return {name: (blank.x1, blank.x2) for name, blank in blanks.items()}


# --- the page's lines by geometry ------------------------------------------------------------


def test_marks_written_apart_join_the_letter_they_stand_on() -> None:
    """ "Số:" written as S, :, o, then its two marks after everything else: still "Số:"."""

    def glyph(text: str, x0: float, width: float) -> Glyph:
        return Glyph(text, x0, x0 + width, 697, 710, 13, 700)

    written = [
        glyph(":", 124.5, 3.6),
        glyph("S", 110.8, 7.2),
        glyph("o", 118.0, 6.5),
        glyph("/", 154.0, 3.6),
        glyph("\u0302", 124.5, 0),  # zero-width marks at the o's right edge, where ":" starts
        glyph("\u0301", 124.5, 0),
    ]
    (line,) = group_lines(written)
    assert line.text == "Số: /"
    assert [g.printed for g in line.glyphs] == [True, True, True, False, True]


def test_two_columns_on_one_baseline_are_one_line_of_two_segments() -> None:
    runs = _layout(DOCUMENT[4:6])
    glyphs = [
        Glyph(r.text, r.x, r.x + serif_font().width(r.text, r.size), r.y - 3, r.y + 10, 13, r.y)
        for r in reversed(runs)
    ]
    (line,) = group_lines(glyphs)
    assert [s.text for s in line.segments()] == [
        "Số: /UBND-VP",
        "Tân Phú Đông, ngày tháng năm 2026",
    ]


@pytest.mark.parametrize("order", ["ordered", "scrambled", "reversed"])
def test_blanks_are_found_where_they_are_on_the_page_whatever_the_writing_order(
    order: str,
) -> None:
    pdf = _pdf(_write(_layout(DOCUMENT), order))
    blanks = find_issue_blanks(pdf)
    expected = _expected_blanks()
    for name, (left, right) in _edges(blanks).items():
        assert left == pytest.approx(expected[name][0], abs=0.05), name
        assert right == pytest.approx(expected[name][1], abs=0.05), name
    assert blanks.number.y1 == pytest.approx(700.8 - 0.25 * 13, abs=0.01)
    assert blanks.day is not None and blanks.day.y1 == pytest.approx(700.6 - 0.25 * 13, abs=0.01)
    assert blanks.year == 2026 and not blanks.by_hand


def test_scrambled_writing_still_finds_the_signer_block_and_the_heading_lines() -> None:
    layout = find_layout(_pdf(_write(_layout(DOCUMENT), "scrambled")))
    assert layout.title is not None and layout.title.text == "PHÓ CHỦ TỊCH"
    assert layout.name is not None and layout.name.text == "Trần Thị Hồng Nhung"
    assert layout.number is not None and layout.number.text == "Số: /UBND-VP"
    assert layout.date is not None and layout.date.text == "Tân Phú Đông, ngày tháng năm 2026"


def test_a_scrambled_draft_is_prepared_signed_issued_and_verified(
    tmp_path: Path, official: Credential, agency: Credential, dev: DevServices
) -> None:
    source, draft = tmp_path / "scrambled.pdf", tmp_path / "draft.pdf"
    source.write_bytes(_pdf(_write(_layout(DOCUMENT), "scrambled")))
    prepare_draft(source, draft)
    report = _sign_and_issue(draft, tmp_path, official, agency, fallback=False, dev=dev)
    assert report.verdict == "passed", report.reason
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "issued.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "01" in text and "27" in text and "11" in text


def test_the_samples_keep_their_blanks(samples_dir: Path) -> None:
    """Measured on the LibreOffice samples before blanks were found by geometry."""
    blanks = find_issue_blanks((samples_dir / "cong-van-cai-cach-hanh-chinh.pdf").read_bytes())
    assert (blanks.number.x1, blanks.number.x2) == pytest.approx((129.603, 152.551), abs=1e-3)
    assert blanks.day is not None and blanks.month is not None
    assert (blanks.day.x1, blanks.day.x2) == pytest.approx((392.425, 408.912), abs=1e-3)
    assert (blanks.month.x1, blanks.month.x2) == pytest.approx((441.513, 457.974), abs=1e-3)
    assert (blanks.number.y1, blanks.day.y1) == pytest.approx((697.539, 697.339), abs=1e-3)


def test_a_blank_drawn_with_dots_is_a_blank() -> None:
    dotted = [
        *DOCUMENT[:4],
        (110, 700.8, 13, False, ["Số: ....../UBND-VP"]),
        (283, 700.6, 13, False, ["Tân Phú Đông, ngày ...... tháng ...... năm 2026"]),
    ]
    blanks = find_issue_blanks(_pdf(_layout(dotted)))
    font = serif_font()
    left = 110 + font.width("Số:", 13) + 1.5
    assert blanks.number.x1 == pytest.approx(left, abs=0.05)
    assert blanks.number.x2 == pytest.approx(110 + font.width("Số: ......", 13) - 1.5, abs=0.05)
    assert blanks.day is not None and blanks.month is not None and blanks.year == 2026


def test_a_number_already_printed_is_no_blank() -> None:
    numbered = [
        *DOCUMENT[:4],
        (110, 700.8, 13, False, ["Số: 12/UBND-VP"]),
        (283, 700.6, 13, False, ["Tân Phú Đông, ngày 05 tháng 3 năm 2026"]),
    ]
    with pytest.raises(BlanksNotFoundError, match="vị trí các ô số, ngày, tháng"):
        find_issue_blanks(_pdf(_layout(numbered)))


# --- blanks given by hand ------------------------------------------------------------------


def _box(blank: Blank) -> Blank:
    """The same box as a person gives it by hand."""
    return given_blank(blank.x1, blank.y1, blank.x2 - blank.x1, blank.y2 - blank.y1)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Path:
    return make_scan(samples_dir / "cong-van-cai-cach-hanh-chinh.pdf", tmp_path_factory.mktemp("s"))


@pytest.fixture(scope="module")
def sample_blanks(samples_dir: Path) -> IssueBlanks:
    return find_issue_blanks((samples_dir / "cong-van-cai-cach-hanh-chinh.pdf").read_bytes())


def test_a_scan_says_how_to_give_the_blanks(scan: Path, tmp_path: Path) -> None:
    with pytest.raises(BlanksNotFoundError, match="point"):
        prepare_draft(scan, tmp_path / "draft.pdf")
    result = run_cli("prepare", scan, "-o", tmp_path / "draft.pdf")
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "--number-box" in result.stderr and "không tìm thấy" in result.stderr
    assert not (tmp_path / "draft.pdf").exists()


def test_a_scan_with_blanks_given_by_hand_is_issued_and_verified(
    scan: Path,
    sample_blanks: IssueBlanks,
    tmp_path: Path,
    official: Credential,
    agency: Credential,
    dev: DevServices,
) -> None:
    draft = tmp_path / "draft.pdf"
    given = {name: _box(blank) for name, blank in sample_blanks.items()}
    blanks = prepare_draft(scan, draft, given=given)
    assert blanks.by_hand == {NUMBER_FIELD, DAY_FIELD, MONTH_FIELD}
    with draft.open("rb") as handle:
        fields = existing_fields(IncrementalPdfFileWriter(handle))
        frame = fields[NUMBER_FIELD]["/AP"]["/N"].get_object().data
    assert b"re S" in frame  # the official sees where the number goes
    report = _sign_and_issue(draft, tmp_path, official, agency, fallback=True, dev=dev)
    assert report.verdict == "passed", report.reason
    assert len(report.signatures) == 2


def test_the_command_line_takes_the_boxes(
    scan: Path, sample_blanks: IssueBlanks, tmp_path: Path
) -> None:
    def option(blank: Blank | None) -> str:
        assert blank is not None
        return f"{blank.x1},{blank.y1},{blank.x2 - blank.x1},{blank.y2 - blank.y1}"

    draft = tmp_path / "draft.pdf"
    result = run_cli(
        "prepare",
        scan,
        "-o",
        draft,
        "--number-box",
        option(sample_blanks.number),
        "--day-box",
        option(sample_blanks.day),
        "--month-box",
        option(sample_blanks.month),
    )
    assert result.returncode == 0, result.stderr
    assert "nhập tay: số, ngày, tháng" in result.stdout
    bad = run_cli("prepare", scan, "-o", draft, "--number-box", "129,6;697,5")
    assert bad.returncode == 2 and "x,y,rộng,cao" in bad.stderr and "Traceback" not in bad.stderr


def test_a_box_over_printed_text_is_refused(samples_dir: Path, tmp_path: Path) -> None:
    sample = samples_dir / "cong-van-cai-cach-hanh-chinh.pdf"
    over_notation = given_blank(156, 697.5, 40, 15.6)  # on "/UBND-VP"
    with pytest.raises(BlankPlacementError, match="đè lên chữ in sẵn") as refused:
        prepare_draft(sample, tmp_path / "draft.pdf", given={DAY_FIELD: over_notation})
    assert refused.value.field == DAY_FIELD
    moved = given_blank(100, 100, 30, 15)  # empty space, but page 1 prints a number blank
    with pytest.raises(BlankPlacementError, match="chỗ trống in sẵn"):
        prepare_draft(sample, tmp_path / "draft.pdf", given={NUMBER_FIELD: moved})
    outside = given_blank(580, 830, 40, 15)
    with pytest.raises(BlankPlacementError, match="ngoài trang"):
        prepare_draft(sample, tmp_path / "draft.pdf", given={MONTH_FIELD: outside})
    assert not (tmp_path / "draft.pdf").exists()


def test_only_the_missing_blanks_need_giving(samples_dir: Path, tmp_path: Path) -> None:
    """A heading with a number blank and no date blank: the number is found, the day given."""
    source = tmp_path / "source.pdf"
    source.write_bytes(_pdf(_layout([*DOCUMENT[:5], (283, 700.6, 13, False, ["Tân Phú Đông"])])))
    day = given_blank(400, 697, 18, 15.6)
    blanks = prepare_draft(source, tmp_path / "draft.pdf", given={DAY_FIELD: day})
    assert blanks.by_hand == {DAY_FIELD} and blanks.day == day and blanks.month is None
    assert blanks.number == find_issue_blanks(source.read_bytes()).number


@pytest.mark.parametrize("where", ["over-text", "empty-space"])
def test_the_verifier_holds_a_hand_placed_blank_to_empty_space(
    where: str, tmp_path: Path, official: Credential, agency: Credential, dev: DevServices
) -> None:
    """A crafted draft (prepare's check skipped) puts the number over the printed body text.

    Page 1 prints the number already, so it shows no blank to compare with: the verifier refuses
    the fill because the box covers printed text. The same fill in empty space passes.
    """
    numbered = [
        *DOCUMENT[:4],
        (110, 700.8, 13, False, ["Số: 12/UBND-VP"]),
        *DOCUMENT[5:],
    ]
    source, draft = tmp_path / "source.pdf", tmp_path / "draft.pdf"
    source.write_bytes(_pdf(_layout(numbered)))
    box = given_blank(85, 586, 60, 16) if where == "over-text" else given_blank(85, 650, 30, 16)
    with pytest.raises(BlanksNotFoundError):
        find_issue_blanks(source.read_bytes())
    crafted = IssueBlanks(page=0, number=box, day=None, month=None, by_hand=frozenset())
    prepare_draft(source, draft, blanks=crafted)
    report = _sign_and_issue(draft, tmp_path, official, agency, fallback=False, dev=dev)
    if where == "over-text":
        assert report.verdict == "failed"
        assert "covers printed text" in report.reason
    else:
        assert report.verdict == "passed", report.reason
