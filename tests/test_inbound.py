"""Inbound documents signed by other tools: what a careful European validator accepts passes here.

pyHanko with its defaults stands in for "another tool" (certificates from the development PKI).
Hybrid files signed several times are in test_hybrid.py, xref-stream updates and document
timestamps on them in test_xref_streams.py. Here: an empty incremental update between two
signatures, certification signatures followed by a form fill, and a document timestamp added by
another tool to a document issued here. Each relaxation has forgeries it must still refuse.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers, timestamps
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import add_validation_info

from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, DEV_TSA_URL, DevServices, dev_p12_path
from signer.issuing import InMemoryCounter, issue_document, prepare_draft
from signer.pagetext import read_page_text
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import VerificationReport
from tests.support import attacks
from tests.support.devservices import dev_sign_options, fetching_context
from tests.support.verdicts import assert_passed
from tests.support.verdicts import verify_offline as verify

# Where page 1 of the sample letter prints nothing (checked below), and where it prints text.
EMPTY_AREA = (330.0, 40.0, 520.0, 60.0)
PRINTED_AREA = (72.0, 380.0, 300.0, 400.0)


@pytest.fixture(scope="module")
def sample(sample_pdf: Path) -> bytes:
    return sample_pdf.read_bytes()


def assert_first_failed(report: VerificationReport) -> None:
    detail = report.to_dict()
    assert report.verdict == "failed", detail
    assert report.signatures[0].verdict == "failed", detail
    assert report.modified_after_signing is True, detail


def test_the_areas_are_what_their_names_say(sample_pdf: Path) -> None:
    with sample_pdf.open("rb") as stream:
        text = read_page_text(stream, 0)
    assert text is not None

    def covered(area: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = area
        return any(g.x0 < x1 and g.x1 > x0 and g.y0 < y1 and g.y1 > y0 for g in text.glyphs())

    assert not covered(EMPTY_AREA)
    assert covered(PRINTED_AREA)


# --- an empty incremental update between two signatures ---------------------------------------


@pytest.mark.parametrize(
    "table",
    [b"xref\n0 0\n", b"xref\n0 1\n0000000000 65535 f \n"],
    ids=["no-entries", "only-the-free-list-head"],
)
def test_an_empty_update_between_two_signatures_passes(
    sample: bytes, chairman: signers.SimpleSigner, tpd: signers.SimpleSigner, table: bytes
) -> None:
    """Some tools save a revision that changes nothing; the later signature covers it."""
    prepared = attacks.add_signature_fields(sample, "Signature1", "Signature2")
    first = attacks.sign(prepared, chairman)
    empty, _ = attacks.append_raw_revision(first, {}, xref_body=table)
    assert verify(empty).verdict == "failed"  # after the last signature it covers nothing
    both = attacks.sign(empty, tpd, field="Signature2")
    reader = PdfFileReader(io.BytesIO(both), strict=True)
    assert not reader.xrefs.explicit_refs_in_revision(reader.xrefs.total_revisions - 2)
    assert_passed(verify(both), 2)


def test_an_empty_update_after_the_last_of_two_signatures_still_fails(
    sample: bytes, chairman: signers.SimpleSigner, tpd: signers.SimpleSigner
) -> None:
    prepared = attacks.add_signature_fields(sample, "Signature1", "Signature2")
    both = attacks.sign(attacks.sign(prepared, chairman), tpd, field="Signature2")
    report = verify(attacks.append_empty_xref_update(both))
    assert report.verdict == "failed", report.to_dict()
    assert "empty cross-reference section" in report.reason


# --- certification signatures, then a form fill by another tool ---------------------------------


def _certified_form(
    sample: bytes,
    signer: signers.SimpleSigner,
    docmdp: MDPPerm,
    *,
    value: str = "",
    rect: tuple[float, float, float, float] = EMPTY_AREA,
    flags: int = 4,
    field_flags: int = 0,
) -> bytes:
    """A document with a text field "GhiChu" (blank unless ``value``), certified by ``signer``."""
    form = attacks.add_text_field(
        sample, "GhiChu", value, rect=rect, flags=flags, field_flags=field_flags
    )
    return attacks.sign(form, signer, certify=True, docmdp=docmdp)


def _fill_then_approve(pdf: bytes, signer: signers.SimpleSigner, **fill: object) -> bytes:
    filled = attacks.fill_text_field(pdf, "GhiChu", "Da nhan ban chinh", **fill)  # type: ignore[arg-type]
    return attacks.sign(filled, signer, field="Signature2")


@pytest.mark.parametrize("docmdp", [MDPPerm.FILL_FORMS, MDPPerm.ANNOTATE])
def test_a_form_fill_the_certification_permits_passes(
    sample: bytes,
    tpd: signers.SimpleSigner,
    chairman: signers.SimpleSigner,
    docmdp: MDPPerm,
) -> None:
    certified = _certified_form(sample, tpd, docmdp)
    assert_passed(verify(certified), 1)
    report = verify(_fill_then_approve(certified, chairman))
    assert_passed(report, 2)
    assert report.signatures[0].modifications == "form_filling"
    assert report.signatures[1].modifications == "none"


def test_an_unsigned_fill_after_the_certification_alone_still_fails(
    sample: bytes, tpd: signers.SimpleSigner
) -> None:
    """The contract: changes after the last signature are covered by no signature."""
    certified = _certified_form(sample, tpd, MDPPerm.FILL_FORMS)
    report = verify(attacks.fill_text_field(certified, "GhiChu", "Da nhan ban chinh"))
    assert report.verdict == "failed", report.to_dict()


def test_a_fill_after_an_approval_signature_still_fails(
    sample: bytes, tpd: signers.SimpleSigner, chairman: signers.SimpleSigner
) -> None:
    approved = attacks.sign(attacks.add_text_field(sample, "GhiChu", "", rect=EMPTY_AREA), tpd)
    assert_first_failed(verify(_fill_then_approve(approved, chairman)))


def test_a_fill_a_no_changes_certification_forbids_fails(
    sample: bytes, tpd: signers.SimpleSigner
) -> None:
    """(pyHanko refuses to add the approval signature here, so the fill stands alone.)"""
    certified = _certified_form(sample, tpd, MDPPerm.NO_CHANGES)
    filled = attacks.fill_text_field(certified, "GhiChu", "Da nhan ban chinh")
    assert_first_failed(verify(filled))


@pytest.mark.parametrize(
    ("form", "fill"),
    [
        ({"value": "100.000 dong"}, {}),  # changes a value the certifier read
        ({}, {"rect": PRINTED_AREA}),  # moves the widget over printed text
        ({"flags": 6}, {"flags": 4}),  # shows a field that was hidden when certified
        ({"field_flags": 1}, {}),  # fills a read-only field
        ({"rect": PRINTED_AREA}, {}),  # a blank the preparer put over printed text
    ],
    ids=["changed-value", "widget-moved-over-text", "hidden-shown", "read-only", "blank-on-text"],
)
def test_forged_form_fills_after_a_certification_fail(
    sample: bytes,
    tpd: signers.SimpleSigner,
    chairman: signers.SimpleSigner,
    form: dict[str, object],
    fill: dict[str, object],
) -> None:
    certified = _certified_form(sample, tpd, MDPPerm.FILL_FORMS, **form)  # type: ignore[arg-type]
    assert_first_failed(verify(_fill_then_approve(certified, chairman, **fill)))


def test_a_fill_of_a_field_created_after_the_certification_fails(
    sample: bytes, tpd: signers.SimpleSigner, chairman: signers.SimpleSigner
) -> None:
    certified = attacks.sign(
        attacks.add_signature_fields(sample, "Signature1"),
        tpd,
        certify=True,
        docmdp=MDPPerm.FILL_FORMS,
    )
    added = attacks.add_text_field(certified, "GhiChu", "", rect=EMPTY_AREA)
    assert_first_failed(verify(_fill_then_approve(added, chairman)))


def test_a_certification_no_signature_field_holds_permits_nothing(
    sample: bytes, tpd: signers.SimpleSigner, chairman: signers.SimpleSigner
) -> None:
    """A /Perms /DocMDP planted before an approval signature does not open form filling."""
    writer = IncrementalPdfFileWriter(
        io.BytesIO(attacks.add_text_field(sample, "GhiChu", "", rect=EMPTY_AREA))
    )
    fake = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Sig"),
                pdf_name("/Reference"): generic.ArrayObject(
                    [
                        generic.DictionaryObject(
                            {
                                pdf_name("/Type"): pdf_name("/SigRef"),
                                pdf_name("/TransformMethod"): pdf_name("/DocMDP"),
                                pdf_name("/TransformParams"): generic.DictionaryObject(
                                    {pdf_name("/P"): generic.NumberObject(2)}
                                ),
                            }
                        )
                    ]
                ),
            }
        )
    )
    writer.root[pdf_name("/Perms")] = generic.DictionaryObject({pdf_name("/DocMDP"): fake})
    writer.update_root()
    planted = io.BytesIO()
    writer.write(planted)
    approved = attacks.sign(planted.getvalue(), tpd)
    assert_first_failed(verify(_fill_then_approve(approved, chairman)))


# --- a document timestamp added by another tool to a document issued here ---------------------


def test_dss_and_document_timestamp_by_another_tool_on_an_issued_document_pass(
    sample_pdf: Path, tmp_path: Path, dev: DevServices
) -> None:
    official = load_credential(dev_p12_path("official-tpd-phochutich"), DEV_PASSPHRASE)
    agency = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "issued.pdf"
    prepare_draft(sample_pdf, draft)
    sign_pdf(draft, signed, official, SignOptions(field_name="ChuKyLanhDao"))
    issue_document(
        signed,
        issued,
        agency,
        InMemoryCounter(),
        dev_sign_options(dev, level="b-t", tsa_url=DEV_TSA_URL, field_name="ChuKyCoQuan"),
        now=datetime(2026, 11, 27, 2, 15, tzinfo=UTC),
    )
    context = fetching_context(load_trust(development=True).roots, dev)  # the run's services
    reader = PdfFileReader(io.BytesIO(issued.read_bytes()))
    with_dss = io.BytesIO()
    add_validation_info(reader.embedded_signatures[-1], context, output=with_dss)
    stamped = io.BytesIO()
    signers.PdfTimeStamper(timestamps.HTTPTimeStamper(dev.tsa_url)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_dss.getvalue())),
        "sha256",
        context,
        output=stamped,
    )
    report = verify(stamped.getvalue())
    assert_passed(report, 2)
    assert [s.kind for s in report.signatures] == ["signature", "signature", "document_timestamp"]
    assert report.signatures[1].modifications == "dss_and_timestamps"
    assert report.signatures[1].pades_level == "B-LTA"
