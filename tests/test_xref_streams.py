"""Documents with cross-reference streams and object streams (PDF 1.5+: Acrobat, iText, qpdf).

Each revision of such a file ends with its cross-reference stream object, not with a table and a
trailer; the verifier must find the true end of a revision for both, so that our own output and
files signed elsewhere pass while bytes outside any revision still fail.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType
from pyhanko.sign import signers, timestamps
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from signer.credentials import Credential, load_credential
from signer.devpki import DEV_PASSPHRASE, DEV_TSA_URL, DevServices, dev_crl_path, dev_p12_path
from signer.issuing import InMemoryCounter, issue_document, prepare_draft
from signer.signing import sign_pdf
from signer.trust import load_trust
from tests.support import attacks
from tests.support.devservices import (
    agency_options,
    dev_sign_options,
    fetching_context,
    official_options,
)
from tests.support.verdicts import assert_passed
from tests.support.verdicts import verify_offline as verify

ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)


def qpdf(source: Path, target: Path, *options: str) -> Path:
    """Rewrite ``source`` with Debian's qpdf."""
    assert shutil.which("qpdf"), "qpdf is missing: apt-get install qpdf"
    subprocess.run(["qpdf", *options, str(source), str(target)], check=True, timeout=60)
    return target


def section_types(data: bytes) -> list[XRefSectionType]:
    xrefs = PdfFileReader(io.BytesIO(data), strict=True).xrefs
    return [
        xrefs.get_xref_container_info(revision).xref_section_type
        for revision in range(xrefs.total_revisions)
    ]


@pytest.fixture(scope="module")
def xref_stream_pdf(sample_pdf: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The sample letter rewritten by qpdf with object streams and a cross-reference stream."""
    target = tmp_path_factory.mktemp("qpdf") / "object-streams.pdf"
    data = qpdf(sample_pdf, target, "--object-streams=generate").read_bytes()
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    assert reader.has_xref_stream
    assert reader.xrefs.get_xref_data(0).xrefs_in_objstm, "qpdf wrote no object stream"
    return data


def pdfsig_valid(path: Path, nss_db: str) -> str:
    result = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(path)], capture_output=True, text=True, timeout=60
    )
    return result.stdout


# --- our own output ---------------------------------------------------------------------------


def test_issue_of_an_object_stream_document_passes_here_and_in_pdfsig(
    xref_stream_pdf: bytes,
    tmp_path: Path,
    official: Credential,
    agency: Credential,
    dev: DevServices,
    nss_db: str,
) -> None:
    source = tmp_path / "source.pdf"
    source.write_bytes(xref_stream_pdf)
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    prepare_draft(source, draft)
    sign_pdf(draft, signed, official, official_options(dev))
    assert_passed(verify(signed), 1)
    issue_document(signed, issued, agency, InMemoryCounter(), agency_options(dev), now=ISSUED_AT)

    # Every update the signer appended is a cross-reference stream, as the original's section.
    assert set(section_types(issued.read_bytes())) == {XRefSectionType.STREAM}
    report = verify(issued)
    assert_passed(report, 2)
    by_field = {s.field: s for s in report.signatures}
    assert by_field["ChuKyLanhDao"].modifications == "form_filling"

    out = pdfsig_valid(issued, nss_db)
    assert out.count("Signature is Valid.") == 2, out
    assert out.count("Certificate is Trusted.") == 2, out


def test_our_b_lta_signature_of_an_object_stream_document_passes(
    xref_stream_pdf: bytes, tmp_path: Path, dev: DevServices
) -> None:
    agency: Credential = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    out = io.BytesIO()
    sign_pdf(
        io.BytesIO(xref_stream_pdf),
        out,
        agency,
        dev_sign_options(
            dev, level="b-lta", tsa_url=DEV_TSA_URL, trust_roots=load_trust(development=True).roots
        ),
    )
    report = verify(out.getvalue())
    assert_passed(report, 1)
    assert report.signatures[0].pades_level == "B-LTA"


# --- files signed by another tool (pyHanko with its defaults) -----------------------------------


def test_pyhanko_signatures_in_xref_stream_updates_pass(
    xref_stream_pdf: bytes, tpd: signers.SimpleSigner, chairman: signers.SimpleSigner
) -> None:
    prepared = attacks.add_signature_fields(xref_stream_pdf, "Signature1", "Signature2")
    once = attacks.sign(prepared, chairman)
    assert section_types(once)[-1] == XRefSectionType.STREAM
    assert_passed(verify(once), 1)
    twice = attacks.sign(once, tpd, field="Signature2")
    assert set(section_types(twice)) == {XRefSectionType.STREAM}
    report = verify(twice)
    assert_passed(report, 2)
    assert [s.field for s in report.signatures] == ["Signature1", "Signature2"]


def test_dss_and_document_timestamp_by_another_tool_pass(
    xref_stream_pdf: bytes, tpd: signers.SimpleSigner, dev: DevServices
) -> None:
    """B-LTA maintenance by pyHanko on an xref-stream file: DSS, then a document timestamp."""
    signed = attacks.sign(xref_stream_pdf, tpd)
    stamped = _add_dss_and_timestamp(signed, dev)
    assert section_types(stamped)[-2:] == [XRefSectionType.STREAM] * 2
    report = verify(stamped)
    assert_passed(report, 1)
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    assert report.signatures[0].modifications == "dss_and_timestamps"
    assert report.signatures[0].revocation == "good"


def test_b_lta_signature_by_another_tool_passes(
    xref_stream_pdf: bytes, tpd: signers.SimpleSigner, dev: DevServices
) -> None:
    """pyHanko signing at B-LTA itself: signature timestamp, DSS, then a document timestamp."""
    roots = load_trust(development=True).roots
    data = attacks.sign_b_lta(xref_stream_pdf, tpd, DEV_TSA_URL, roots, dev)
    assert section_types(data)[-1] == XRefSectionType.STREAM
    report = verify(data)
    assert_passed(report, 1)
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    assert report.signatures[0].pades_level == "B-LTA"


def _add_dss_and_timestamp(signed: bytes, dev: DevServices) -> bytes:
    context = fetching_context(load_trust(development=True).roots, dev)  # the run's services
    reader = PdfFileReader(io.BytesIO(signed))
    with_dss = io.BytesIO()
    add_validation_info(reader.embedded_signatures[0], context, output=with_dss)
    stamped = io.BytesIO()
    signers.PdfTimeStamper(timestamps.HTTPTimeStamper(dev.tsa_url)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_dss.getvalue())),
        "sha256",
        context,
        output=stamped,
    )
    return stamped.getvalue()


# --- bytes outside any revision still fail ------------------------------------------------------


def _unsigned_dss_update(signed: bytes) -> bytes:
    """An xref-stream update after the signature that only adds revocation data (permitted)."""
    context = ValidationContext(
        trust_roots=list(load_trust(development=True).roots),
        crls=[attacks.load_crl(dev_crl_path())],
    )
    reader = PdfFileReader(io.BytesIO(signed))
    out = io.BytesIO()
    add_validation_info(reader.embedded_signatures[0], context, output=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def with_dss(xref_stream_pdf: bytes, tpd: signers.SimpleSigner) -> bytes:
    data = _unsigned_dss_update(attacks.sign(xref_stream_pdf, tpd))
    assert section_types(data)[-1] == XRefSectionType.STREAM
    return data


def test_a_dss_update_in_an_xref_stream_passes(with_dss: bytes) -> None:
    report = verify(with_dss)
    assert_passed(report, 1)
    assert report.signatures[0].modifications == "dss_and_timestamps"


@pytest.mark.parametrize(
    "forge",
    [
        lambda pdf: pdf + b"\n% not part of any revision\n1 0 obj (junk) endobj\n",
        lambda pdf: _insert_before_startxref(pdf, b"99 0 obj (HUY BO) endobj\n"),
        lambda pdf: _insert_before_startxref(pdf, b"trailer << /Size 3 >>\n"),
    ],
    ids=["after-eof", "object-after-endobj", "trailer-after-endobj"],
)
def test_bytes_outside_the_last_xref_stream_revision_fail(with_dss: bytes, forge: object) -> None:
    report = verify(forge(with_dss))  # type: ignore[operator]
    assert report.verdict == "failed", report.to_dict()
    assert report.modified_after_signing is True
    assert "revision" in report.reason or "%%EOF" in report.reason, report.reason
    assert report.signatures[0].coverage != "entire_file"


def _insert_before_startxref(pdf: bytes, junk: bytes) -> bytes:
    at = pdf.rindex(b"startxref")
    return pdf[:at] + junk + pdf[at:]
