"""What a user reads when a PDF cannot be prepared, signed or issued: Vietnamese, one line.

pyHanko and pdfminer speak English; their text may follow ours in parentheses, never replace it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.general import SigningError as PyHankoSigningError

from signer.messages import pdf_error_message, signing_error_message
from tests.support.cli import P12_DIR, PIN_ENV, assert_one_clear_line, run_cli
from tests.support.hybrid import make_hybrid
from tests.support.messages import assert_vietnamese
from tests.support.pdfs import encrypt


def _no_pages() -> bytes:
    buffer = io.BytesIO()
    PdfFileWriter().write(buffer)  # type: ignore[no-untyped-call]
    return buffer.getvalue()


def _broken(sample: bytes, kind: str, folder: Path) -> bytes:
    if kind == "empty":
        return b""
    if kind == "not-a-pdf":
        return b"MZ\x90\x00 not a PDF at all"
    if kind == "truncated":
        return sample[: len(sample) // 2]
    if kind == "no-trailer":
        return sample[:-300]
    if kind == "wrong-startxref":
        end = sample.rindex(b"startxref")
        return sample[:end] + b"startxref\n123\n%%EOF\n"
    if kind == "no-pages":
        return _no_pages()
    if kind == "password":
        source = folder / "source.pdf"
        source.write_bytes(sample)
        return encrypt(source, folder / "password.pdf", user="mat-khau").read_bytes()
    if kind == "shadow-hybrid":
        return make_hybrid(sample, shadow="redeclared")
    raise AssertionError(kind)


KINDS = [
    "empty",
    "not-a-pdf",
    "truncated",
    "no-trailer",
    "wrong-startxref",
    "no-pages",
    "password",
    "shadow-hybrid",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["prepare", "sign", "issue"])
def test_a_broken_pdf_gets_one_vietnamese_line_and_a_failing_exit(
    command: str, kind: str, sample_pdf: Path, tmp_path: Path
) -> None:
    source, out = tmp_path / "input.pdf", tmp_path / "out.pdf"
    source.write_bytes(_broken(sample_pdf.read_bytes(), kind, tmp_path))
    args: list[str | Path] = [command, source, "-o", out]
    if command != "prepare":
        credential = "official-tpd-chutich" if command == "sign" else "agency-tpd"
        args += ["--level", "b-b", "--credential", P12_DIR / f"{credential}.p12"]
        args += [
            "--pin-env",
            "CONGVAN_TEST_PIN",
            *(["--counter", tmp_path / "so.json"] * (command == "issue")),
        ]
    result = run_cli(*args, env=PIN_ENV)
    assert result.returncode != 0, result.stdout
    assert_one_clear_line(result)
    assert "lỗi nội bộ" not in result.stderr
    assert_vietnamese(result.stderr.strip().removeprefix("congvan: "))
    assert not out.exists()
    assert not (tmp_path / "so.json").exists()  # no number was used for a file not issued


@pytest.mark.parametrize(
    "error",
    [
        PyHankoSigningError(
            "Attempting to sign document with hybrid cross-reference sections while hybrid "
            "xrefs are disabled"
        ),
        PdfReadError("EOF marker not found"),
        PdfReadError("Could not find xref table at specified location"),
        PdfReadError("Illegal PDF header"),
        PdfReadError("Page index out of range"),
        ValueError("something nobody has seen before"),
        RecursionError("maximum recursion depth exceeded"),
    ],
)
def test_library_errors_are_told_in_our_words_with_the_detail_after(error: Exception) -> None:
    for message in (pdf_error_message(error), signing_error_message(error)):
        assert_vietnamese(message)
        assert message.endswith(f"(chi tiết: {error})")


def test_pdfminer_errors_are_told_in_our_words() -> None:
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.psparser import PSEOF

    assert pdf_error_message(PSEOF("Unexpected EOF")).startswith("tệp PDF bị cắt cụt")
    assert "mật khẩu" in pdf_error_message(PDFPasswordIncorrect())


def test_the_hybrid_refusal_names_word_not_pyhanko() -> None:
    message = signing_error_message(
        PyHankoSigningError(
            "Attempting to sign document with hybrid cross-reference sections while hybrid "
            "xrefs are disabled"
        )
    )
    assert message.startswith("tệp PDF có bảng tham chiếu chéo kiểu lai")


def test_no_english_sentence_reaches_a_signing_message_in_the_signer() -> None:
    """The signer's own messages for signing, prepare and issue are Vietnamese at the source."""
    root = Path(__file__).resolve().parents[1] / "signer"
    files = [root / "signing.py", root / "issuing" / "__init__.py", root / "issuing" / "blanks.py"]
    raised = re.compile(r"raise (?:UnreadablePdfError|SigningError|IssueError)\(\s*f?\"([^\"]*)")
    for path in files:
        for text in raised.findall(path.read_text("utf-8")):
            own = re.sub(r"\{[^}]*\}", "", text)  # the values filled in
            if not own.strip(" :"):
                continue  # a message built elsewhere (signer/messages.py)
            assert_vietnamese(own)
