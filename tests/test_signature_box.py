"""Where the official signs when the text shows no signer block: "PAGE:x,y,width,height".

The library reads and checks the place (`parse_placement`, `placement_problem`); `congvan sign`
and `congvan issue` take it as --signature-box; without it a scan is refused in Vietnamese,
before `congvan issue` spends a number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signer.appearance import Placement, format_placement, parse_placement, placement_problem
from signer.appearance.drawing import official_rects
from signer.layout import Rect
from tests.support.cli import P12_DIR, PIN_ENV, assert_one_clear_line, run_cli
from tests.support.pdfs import SCAN_BOXES, SIGNATURE_PLACE, make_scan

ASSETS = P12_DIR.parent / "assets"
A4 = Rect(0, 0, 595.28, 841.89)


def test_the_place_reads_and_writes_back() -> None:
    place = parse_placement(" 1 : 345, 171.5 ,150,77.6 ")
    assert place == SIGNATURE_PLACE
    assert format_placement(place) == "1:345,171.5,150,77.6"
    assert parse_placement(format_placement(Placement(2, 10.123, 20, 100.5, 60))) == Placement(
        2, 10.12, 20, 100.5, 60
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("345,171.5,150,77.6", "TRANG:x,y,rộng,cao"),
        ("1:345;171.5;150;77.6", "TRANG:x,y,rộng,cao"),
        ("một:345,171.5,150,77.6", "TRANG:x,y,rộng,cao"),
        ("1:nan,171.5,150,77.6", "TRANG:x,y,rộng,cao"),
        ("0:345,171.5,150,77.6", "bắt đầu từ 1"),
        ("1:345,171.5,40,77.6", "rộng 72 đến 360"),
        ("1:345,171.5,150,300", "cao 54 đến 220"),
    ],
)
def test_a_place_in_another_form_or_size_is_refused_in_vietnamese(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_placement(text)


def test_a_place_must_be_on_the_document() -> None:
    assert placement_problem(SIGNATURE_PLACE, 1, A4) is None
    assert "chỉ có 1 trang" in str(placement_problem(Placement(1, 345, 171.5, 150, 77.6), 1, None))
    outside = placement_problem(Placement(0, 500, 171.5, 150, 77.6), 1, A4)
    assert outside is not None and "ngoài trang 1" in outside


def test_a_narrow_place_holds_the_whole_image() -> None:
    """In a signer block's blank the image may overhang the block; in a given place it fits."""
    narrow = Rect(300, 100, 80, 100)
    fitted = official_rects(narrow, narrow.center_x, 127.6, 56.7, fit_width=True)
    assert narrow.x <= fitted.x and fitted.right <= narrow.right
    assert official_rects(narrow, narrow.center_x, 127.6, 56.7).width == pytest.approx(127.6)


@pytest.fixture(scope="module")
def scan_draft(tmp_path_factory: pytest.TempPathFactory, sample_pdf: Path) -> Path:
    folder = tmp_path_factory.mktemp("scan")
    draft = folder / "draft.pdf"
    boxes = [f"--{name.replace('_', '-')}={value}" for name, value in SCAN_BOXES.items()]
    result = run_cli("prepare", make_scan(sample_pdf, folder), "-o", draft, *boxes)
    assert result.returncode == 0, result.stderr
    return draft


def _sign(source: Path, out: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "sign",
        source,
        "-o",
        out,
        "--credential",
        P12_DIR / "official-tpd-phochutich.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--visible",
        "official",
        "--image",
        ASSETS / "official-tpd-phochutich.png",
        *extra,
    ]


def _issue(source: Path, out: Path, counter: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "issue",
        source,
        "-o",
        out,
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--visible",
        "agency",
        "--image",
        ASSETS / "agency-tpd.png",
        "--counter",
        counter,
        "--json",
        *extra,
    ]


def test_the_command_line_signs_and_issues_a_scan_at_the_place_given(
    scan_draft: Path, tmp_path: Path, dev_services: str
) -> None:
    signed, issued, counter = tmp_path / "signed.pdf", tmp_path / "issued.pdf", tmp_path / "so.json"
    refused = run_cli(*_sign(scan_draft, signed), env=PIN_ENV)
    assert refused.returncode == 1
    assert_one_clear_line(refused)
    assert "không tìm thấy khối chữ ký" in refused.stderr and "--signature-box" in refused.stderr
    assert not signed.exists()

    off_page = run_cli(
        *_sign(scan_draft, signed, "--signature-box", "2:345,171.5,150,77.6"), env=PIN_ENV
    )
    assert off_page.returncode == 1 and "chỉ có 1 trang" in off_page.stderr
    malformed = run_cli(
        *_sign(scan_draft, signed, "--signature-box", "345,171.5,150,77.6"), env=PIN_ENV
    )
    assert malformed.returncode == 2 and "TRANG:x,y,rộng,cao" in malformed.stderr
    assert "Traceback" not in off_page.stderr + malformed.stderr

    box = ("--signature-box", "1:345,171.5,150,77.6")
    result = run_cli(*_sign(scan_draft, signed, *box), env=PIN_ENV)
    assert result.returncode == 0, result.stderr

    refused = run_cli(*_issue(signed, issued, counter), env=PIN_ENV)
    assert refused.returncode == 1
    assert_one_clear_line(refused)
    assert "--signature-box" in refused.stderr
    assert not counter.exists()  # refused before a number was taken

    result = run_cli(*_issue(signed, issued, counter, *box), env=PIN_ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["number"] == 1
    verified = run_cli("verify", "--offline", "--json", issued)
    assert verified.returncode == 0, verified.stderr
    assert len(json.loads(verified.stdout)["signatures"]) == 2


def test_the_place_needs_a_visible_signature(scan_draft: Path, tmp_path: Path) -> None:
    args = _sign(scan_draft, tmp_path / "out.pdf", "--signature-box", "1:345,171.5,150,77.6")
    corner = [*args[: args.index("--visible")], "--visible", "corner", "--level", "b-b"]
    corner += ["--signature-box", "1:345,171.5,150,77.6"]
    result = run_cli(*corner, env=PIN_ENV)
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "--visible official" in result.stderr
