"""Hybrid-reference files, what Microsoft Word and Excel export: signed, issued and verified.

They are accepted only where a reader of classic tables and a reader of cross-reference streams
see the same document (signer/hybrid.py); the shadow variants of tests/support/hybrid.py, and hybrid
updates appended after a signature, must fail with a reason naming the difference.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType
from pyhanko.sign import signers

from signer.credentials import Credential
from signer.devpki import DEV_TSA_URL, DevServices
from signer.errors import UnreadablePdfError
from signer.hybrid import check_hybrid
from signer.issuing import InMemoryCounter, issue_document, prepare_draft
from signer.signing import sign_pdf
from signer.trust import load_trust
from signer.verification import VerificationReport
from tests.support import attacks
from tests.support.devservices import agency_options, dev_sign_options, official_options
from tests.support.hybrid import make_hybrid
from tests.support.verdicts import assert_passed
from tests.support.verdicts import verify_offline as verify

ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def hybrid(sample_pdf: Path) -> bytes:
    return make_hybrid(sample_pdf.read_bytes())


def assert_hybrid_failure(report: VerificationReport, *words: str) -> None:
    detail = report.to_dict()
    assert report.verdict == "failed", detail
    assert report.reason.startswith("Hybrid file: "), detail
    assert all(word in report.reason for word in words), detail
    assert report.modified_after_signing is True, detail


def test_the_generated_file_is_hybrid_as_office_writes_it(hybrid: bytes, tmp_path: Path) -> None:
    reader = PdfFileReader(io.BytesIO(hybrid), strict=True)
    xrefs = reader.xrefs
    assert xrefs.total_revisions == 2
    assert xrefs.get_xref_container_info(1).xref_section_type == XRefSectionType.HYBRID_MAIN
    assert not xrefs.get_xref_data(1).standard_xrefs  # the update's table is "xref 0 0"
    hidden = xrefs.get_xref_data(1).hybrid
    assert hidden is not None and hidden.xref_data.xrefs_in_objstm
    # The structure tree is a free placeholder in the classic table, in an object stream for
    # modern readers; the pages are in the classic table.
    tree = reader.root.raw_get("/StructTreeRoot").reference
    assert tree.idnum in xrefs.get_xref_data(0).freed
    assert reader.root["/StructTreeRoot"]["/Type"] == "/StructTreeRoot"
    assert check_hybrid(reader) is None
    (tmp_path / "hybrid.pdf").write_bytes(hybrid)
    qpdf = subprocess.run(
        ["qpdf", "--check", str(tmp_path / "hybrid.pdf")], capture_output=True, timeout=60
    )
    assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr


# --- our own output: draft, official, issue ---------------------------------------------------


def test_issue_of_a_hybrid_document_passes_here_and_in_pdfsig(
    hybrid: bytes,
    tmp_path: Path,
    official: Credential,
    agency: Credential,
    dev: DevServices,
    nss_db: str,
) -> None:
    source = tmp_path / "word-export.pdf"
    source.write_bytes(hybrid)
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    prepare_draft(source, draft)
    sign_pdf(draft, signed, official, official_options(dev))
    assert_passed(verify(signed), 1)
    issue_document(signed, issued, agency, InMemoryCounter(), agency_options(dev), now=ISSUED_AT)
    data = issued.read_bytes()
    assert data.startswith(hybrid)  # every step only appended
    report = verify(issued)
    assert_passed(report, 2)
    by_field = {s.field: s for s in report.signatures}
    assert by_field["ChuKyLanhDao"].modifications == "form_filling"

    pdfsig = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(issued)], capture_output=True, text=True, timeout=60
    )
    assert pdfsig.stdout.count("Signature is Valid.") == 2, pdfsig.stdout
    assert pdfsig.stdout.count("Certificate is Trusted.") == 2, pdfsig.stdout
    text = subprocess.run(
        ["pdftotext", "-l", "1", "-layout", str(issued), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Số: 01 /" in " ".join(text.split())


def test_our_b_lta_signature_of_a_hybrid_passes(
    hybrid: bytes, agency: Credential, dev: DevServices
) -> None:
    out = io.BytesIO()
    sign_pdf(
        io.BytesIO(hybrid),
        out,
        agency,
        dev_sign_options(
            dev, level="b-lta", tsa_url=DEV_TSA_URL, trust_roots=load_trust(development=True).roots
        ),
    )
    report = verify(out.getvalue())
    assert_passed(report, 1)
    assert report.signatures[0].pades_level == "B-LTA"


# --- signed by another tool (pyHanko with its defaults) -----------------------------------------


def test_hybrid_signed_twice_by_another_tool_passes(
    hybrid: bytes, chairman: signers.SimpleSigner, tpd: signers.SimpleSigner
) -> None:
    once = attacks.sign(hybrid, chairman, strict=False)
    assert_passed(verify(once), 1)
    twice = attacks.sign(once, tpd, field="Signature2", strict=False)
    report = verify(twice)
    assert_passed(report, 2)
    assert [s.field for s in report.signatures] == ["Signature1", "Signature2"]
    assert report.signatures[-1].coverage == "entire_file"


def test_b_lta_by_another_tool_on_a_hybrid_passes(
    hybrid: bytes, tpd: signers.SimpleSigner, dev: DevServices
) -> None:
    data = attacks.sign_b_lta(hybrid, tpd, DEV_TSA_URL, load_trust(development=True).roots, dev)
    report = verify(data)
    assert_passed(report, 1)
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    assert report.signatures[0].pades_level == "B-LTA"


# --- shadow hybrids: the two views differ -------------------------------------------------------


@pytest.mark.parametrize(
    ("shadow", "words"),
    [
        ("redeclared", ("in the cross-reference table but at offset", "in /XRefStm")),
        ("hidden-content", ("/Pages /Kids[0] /Contents[1]", "only in /XRefStm")),
    ],
)
def test_a_shadow_hybrid_fails_with_the_difference_named(
    sample_pdf: Path, tpd: signers.SimpleSigner, shadow: str, words: tuple[str, ...]
) -> None:
    forged = make_hybrid(sample_pdf.read_bytes(), shadow=shadow)  # type: ignore[arg-type]
    report = verify(attacks.sign(forged, tpd, strict=False))
    assert_hybrid_failure(report, *words)
    (signature,) = report.signatures
    assert signature.verdict == "failed"


@pytest.mark.parametrize("shadow", ["redeclared", "hidden-content"])
def test_a_shadow_hybrid_is_neither_prepared_nor_signed(
    sample_pdf: Path, tmp_path: Path, agency: Credential, shadow: str
) -> None:
    source = tmp_path / "shadow.pdf"
    source.write_bytes(make_hybrid(sample_pdf.read_bytes(), shadow=shadow))  # type: ignore[arg-type]
    with pytest.raises(UnreadablePdfError, match=r"kiểu lai .* không khớp nhau"):
        prepare_draft(source, tmp_path / "draft.pdf")
    with pytest.raises(UnreadablePdfError, match=r"kiểu lai .* không khớp nhau"):
        sign_pdf(source, tmp_path / "signed.pdf", agency)
    assert not (tmp_path / "draft.pdf").exists() and not (tmp_path / "signed.pdf").exists()


def _companion_update(pdf: bytes, objects: dict[int, bytes], *, stream_after_table: bool) -> bytes:
    """Append Word's kind of update: ``xref 0 0`` and a trailer naming a new /XRefStm stream.

    The stream lists ``objects`` (written raw, as type 1 entries), which a reader of classic
    tables never sees. ``stream_after_table`` puts the stream after the table that names it.
    """
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    startxref = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    root = reader.trailer.raw_get("/Root").reference
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)

    def companion() -> bytes:
        rows = b"".join(struct.pack(">BIH", 1, offsets[n], 0) for n in sorted(offsets))
        index = b" ".join(b"%d 1" % n for n in sorted(offsets))
        data = zlib.compress(rows)
        return (
            b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Filter /FlateDecode "
            b"/Length %d >>\nstream\n%s\nendstream\nendobj\n"
        ) % (size, size, index, len(data), data)

    def trailer(stream_at: int) -> bytes:
        return b"xref\n0 0\ntrailer\n<< /Size %d /Root %d 0 R /Prev %d /XRefStm %010d >>\n" % (
            size + 1,
            root.idnum,
            startxref,
            stream_at,
        )

    if stream_after_table:
        table_at = len(out)
        stream_at = table_at + len(trailer(0))
        out += trailer(stream_at) + companion()
    else:
        stream_at = len(out)
        out += companion()
        table_at = len(out)
        out += trailer(stream_at)
    out += b"startxref\n%d\n%%%%EOF\n" % table_at
    return bytes(out)


def _page_content_number(pdf: bytes) -> int:
    page = PdfFileReader(io.BytesIO(pdf), strict=False).root["/Pages"]["/Kids"][0]
    return int(page.raw_get("/Contents").idnum)


def test_a_hybrid_update_after_signing_that_redefines_a_page_for_modern_readers_fails(
    hybrid: bytes, tpd: signers.SimpleSigner
) -> None:
    """The signed revision is consistent; the appended /XRefStm stream swaps page 1's content."""
    signed = attacks.sign(hybrid, tpd, strict=False)
    content = _page_content_number(signed)
    forged = b"<< /Length %d >>\nstream\n%s\nendstream" % (
        len(attacks.FORGED_TEXT),
        attacks.FORGED_TEXT,
    )
    report = verify(_companion_update(signed, {content: forged}, stream_after_table=False))
    assert_hybrid_failure(report, f"object {content} is at offset")
    assert report.signatures[0].verdict == "failed"


def test_an_xrefstm_after_the_table_that_names_it_fails(
    hybrid: bytes, tpd: signers.SimpleSigner
) -> None:
    signed = attacks.sign(hybrid, tpd, strict=False)
    note = b"<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /Contents (x) >>"
    report = verify(_companion_update(signed, {900: note}, stream_after_table=True))
    assert_hybrid_failure(report, "does not lie before the table that names it")


# --- the fast form of the walk: conservative, and the exact walk decides when it doubts


def test_fast_walk_admits_the_office_layout_without_the_exact_walk(hybrid: bytes) -> None:
    from signer import hybrid as module

    reader = PdfFileReader(io.BytesIO(hybrid), strict=True)
    assert module._reaches_only_classic(reader)


@pytest.mark.parametrize("shadow", ["redeclared", "hidden-content"])
def test_fast_walk_never_admits_a_shadow(sample_pdf: Path, shadow: str) -> None:
    from signer import hybrid as module

    forged = make_hybrid(sample_pdf.read_bytes(), shadow=shadow)  # type: ignore[arg-type]
    reader = PdfFileReader(io.BytesIO(forged), strict=True)
    if shadow == "hidden-content":
        assert not module._reaches_only_classic(reader)
    assert check_hybrid(reader) is not None


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (b"7 0 obj\n<< /Type /Font /Widths [1 2 3] /FontDescriptor 8 0 R >>\nendobj\n", [(8, 0)]),
        (b"7 0 obj [ 12 0 R 13 0 R ] endobj", [(12, 0), (13, 0)]),
        # A string, a comment, a hex string or a stream: another object could overlap the
        # region in another lexical state, so it is parsed for real.
        (b"7 0 obj << /T (x) /P 8 0 R >> endobj\n", None),
        (b"7 0 obj << /P 8 0 R % )\n>> endobj\n", None),
        (b"7 0 obj << /ID <0A> /P 8 0 R >> endobj\n", None),
        (b"7 0 obj << /Length 2 /Filter /FlateDecode >>\nstream\n8 0 R\nendstream\nendobj\n", []),
        (b"7 0 obj << /Length 9 0 R >>\nstream\n8 0 R\nendstream\nendobj\n", [(9, 0)]),
        (b"7 0 obj << /Length (2) >>\nstream\nab\nendstream\nendobj\n", None),
        # Unbalanced: pyHanko would not read one value here.
        (b"7 0 obj [ 8 0 R endobj\n", None),
        (b"7 0 obj << /A [ 8 0 R >> ] endobj\n", None),
        # Not the object the table names, or bytes after endobj: parsed for real.
        (b"9 0 obj << /P 8 0 R >> endobj\n", None),
        (b"7 0 obj << /P 8 0 R >> endobj 8 0 R\n", None),
    ],
)
def test_simple_regions(region: bytes, expected: list[tuple[int, int]] | None) -> None:
    from signer.hybrid import simple_references

    data = b"%PDF-1.7\n" + region
    assert simple_references(data, [9, len(data)], 9, 7, 0) == expected
