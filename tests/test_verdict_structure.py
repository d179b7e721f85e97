"""The verdict reads what the judgement found, never the wording of its own messages (issue 9).

The first part pins today's verdicts, reasons and per-signature findings on a representative set
of documents (untouched, forged in each way the verifier knows, badly certified, revoked), word for
word, so a restructuring of `signer/verification/` cannot change them unnoticed. The second part
rewords every problem message as it is written and checks that no verdict moves.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import DocumentSecurityStore

from signer.devpki import DEV_PASSPHRASE, dev_crl_path, dev_p12_path
from signer.trust import TrustSettings
from signer.verification import VerificationReport, judgement, verify_pdf
from tests.support import attacks

PASSED_ONE = "The signature is valid and nothing but permitted additions follows any signature."
PASSED_TWO = "The 2 signatures are valid and nothing but permitted additions follows any signature."
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d"
PAGE_REPLACED = (
    "the document was changed after signing "
    "(the page tree, form fields, the open action, objects outside any permitted change)"
)
PAGE_ADDED = (
    "the document was changed after signing (the page tree, objects outside any permitted change)"
)
UNCOVERED = "changes after the last signature are not covered by any signature"
BEYOND_CERTIFICATION = "changes after signing exceed what the certification signature permits"
REVOKED = (
    rf"the signer's certificate was revoked on {ISO}, before the signature was made "
    rf"\(its own signed time is {ISO}\)"
)


@dataclass(frozen=True)
class Signature:
    """What a signature's report must say; `problems` are regular expressions (full match)."""

    field: str
    verdict: str
    subindication: str
    coverage: str
    modifications: str
    integrity: bool = True
    trusted: bool = True
    revocation: str = "not_checked"
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expected:
    verdict: str
    modified: bool
    reason: str  # a regular expression (full match)
    signatures: tuple[Signature, ...]


def _passing(field: str, coverage: str, modifications: str) -> Signature:
    return Signature(field, "passed", "TOTAL_PASSED", coverage, modifications)


def _changed(headline: str, modifications: str = "other") -> Signature:
    return Signature(
        "Signature1",
        "failed",
        "SIG_CONSTRAINTS_FAILURE",
        "entire_revision",
        modifications,
        problems=(re.escape(headline) + ("" if headline.startswith("changes") else ": .+"),),
    )


def _bad_signer(subindication: str, problem: str) -> Signature:
    return Signature(
        "Signature1",
        "failed",
        subindication,
        "entire_file",
        "none",
        trusted=False,
        problems=(re.escape(problem),),
    )


def _malformed(problem: str) -> Signature:
    return Signature(
        "Signature1",
        "failed",
        "FORMAT_FAILURE",
        "partial",
        "other",
        integrity=False,
        trusted=False,
        problems=(re.escape(problem),),
    )


def _failed(detail: str) -> str:
    return re.escape(f"Signature 'Signature1' failed: {detail}.")


@dataclass
class Documents:
    sample: bytes
    signed: bytes
    tpd: signers.SimpleSigner


@pytest.fixture(scope="module")
def documents(sample_pdf: Any) -> Documents:
    sample = sample_pdf.read_bytes()
    tpd = attacks.load_p12_signer(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    return Documents(sample, attacks.sign(sample, tpd), tpd)


def _two_signatures(d: Documents) -> bytes:
    prepared = attacks.add_signature_fields(d.sample, "Signature1", "Signature2")
    chairman = attacks.load_p12_signer(dev_p12_path("official-tpd-chutich"), DEV_PASSPHRASE)
    return attacks.sign(attacks.sign(prepared, chairman), d.tpd, field="Signature2")


def _signed_after_a_no_changes_certification(d: Documents) -> bytes:
    """A second signature where the certification forbids any; pyHanko's signer would refuse."""
    certified = attacks.sign(d.sample, d.tpd, certify=True, docmdp=MDPPerm.NO_CHANGES)
    with mock.patch.object(
        signers.PdfSigner, "_enforce_certification_constraints", lambda self, reader: None
    ):
        return attacks.sign(certified, d.tpd, field="Signature2")


def _signed_by(label: str) -> Callable[[Documents], bytes]:
    def make(d: Documents) -> bytes:
        return attacks.sign(d.sample, attacks.load_p12_signer(dev_p12_path(label), DEV_PASSPHRASE))

    return make


def _revoked_with_embedded_crl(d: Documents) -> bytes:
    signed = _signed_by("bad-revoked")(d)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, crls=[attacks.load_crl(dev_crl_path())]
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _short_second_range(d: Documents) -> bytes:
    _, len1, start2, len2 = attacks.last_span(d.signed).byte_range
    return attacks.resign_over(d.signed, (0, len1, start2, len2 - 50), d.tpd)


def _negative_range(d: Documents) -> bytes:
    _, len1, start2, len2 = attacks.last_span(d.signed).byte_range
    return attacks.set_byte_range(d.signed, f"0 -{len1} {start2} {len2}")


CASES: dict[str, tuple[Callable[[Documents], bytes], Expected]] = {
    "untouched": (
        lambda d: d.signed,
        Expected(
            "passed",
            False,
            re.escape(PASSED_ONE),
            (_passing("Signature1", "entire_file", "none"),),
        ),
    ),
    "two-signatures": (
        _two_signatures,
        Expected(
            "passed",
            False,
            re.escape(PASSED_TWO),
            (
                _passing("Signature1", "entire_revision", "form_filling"),
                _passing("Signature2", "entire_file", "none"),
            ),
        ),
    ),
    "unsigned": (
        lambda d: d.sample,
        Expected(
            "failed", False, re.escape("The document carries no signature (no signature)."), ()
        ),
    ),
    "digest-mismatch": (
        lambda d: attacks.flip_in_content_stream(d.signed),
        Expected(
            "failed",
            False,
            _failed("the signed bytes were changed (digest mismatch)"),
            (
                Signature(
                    "Signature1",
                    "failed",
                    "HASH_FAILURE",
                    "entire_file",
                    "none",
                    integrity=False,
                    trusted=False,
                    problems=(re.escape("the signed bytes were changed (digest mismatch)"),),
                ),
            ),
        ),
    ),
    # A difference-analysis problem: the reason names the changed parts, not pyHanko's detail.
    "page-replaced": (
        lambda d: attacks.replace_page_content(d.signed),
        Expected("failed", True, _failed(PAGE_REPLACED), (_changed(PAGE_REPLACED),)),
    ),
    "page-added": (
        lambda d: attacks.add_page(d.signed),
        Expected("failed", True, _failed(PAGE_ADDED), (_changed(PAGE_ADDED),)),
    ),
    "annotation": (
        lambda d: attacks.add_annotation(d.signed, "/Stamp"),
        Expected("failed", True, _failed(PAGE_REPLACED), (_changed(PAGE_REPLACED),)),
    ),
    # Modifications read "form_filling": only the judgement knows the document was modified.
    "sneaky-signature-field": (
        lambda d: attacks.add_sneaky_signature_field(d.signed),
        Expected("failed", True, _failed(UNCOVERED), (_changed(UNCOVERED, "form_filling"),)),
    ),
    "signed-after-a-no-changes-certification": (
        _signed_after_a_no_changes_certification,
        Expected(
            "failed",
            True,
            _failed(BEYOND_CERTIFICATION),
            (
                _changed(BEYOND_CERTIFICATION, "form_filling"),
                _passing("Signature2", "entire_file", "none"),
            ),
        ),
    ),
    # Two problems: the reason quotes the first one; the changed parts come second.
    "second-range-short": (
        lambda d: _short_second_range(d),
        Expected(
            "failed",
            True,
            _failed("the signature does not cover a whole revision of the file"),
            (
                Signature(
                    "Signature1",
                    "failed",
                    "FORMAT_FAILURE",
                    "partial",
                    "other",
                    problems=(
                        re.escape("the signature does not cover a whole revision of the file"),
                        re.escape(
                            "the document was changed after signing "
                            "(objects that no signature permits to change): "
                        )
                        + ".+",
                    ),
                ),
            ),
        ),
    ),
    "negative-byte-range": (
        _negative_range,
        Expected(
            "failed",
            True,
            _failed("/ByteRange ranges are negative or overlap"),
            (_malformed("/ByteRange ranges are negative or overlap"),),
        ),
    ),
    "zeroed-contents": (
        lambda d: attacks.set_contents(d.signed, b""),
        Expected(
            "failed",
            True,
            _failed("/Contents is empty or zeroed"),
            (_malformed("/Contents is empty or zeroed"),),
        ),
    ),
    # Document-level problems come first; the signature itself stands.
    "trailing-garbage": (
        lambda d: attacks.append_trailing_garbage(d.signed),
        Expected(
            "failed",
            True,
            re.escape("Bytes that belong to no revision follow the last %%EOF."),
            (_passing("Signature1", "entire_revision", "none"),),
        ),
    ),
    "empty-xref-update": (
        lambda d: attacks.append_empty_xref_update(d.signed),
        Expected(
            "failed",
            True,
            re.escape("Revision 3 has an empty cross-reference section."),
            (_passing("Signature1", "entire_revision", "dss_and_timestamps"),),
        ),
    ),
    "broken-xref-update": (
        lambda d: attacks.append_broken_xref_update(d.signed),
        Expected(
            "failed",
            True,
            r"The \d+ bytes after offset \d+ are not a readable incremental update "
            r"\(broken cross-reference section\)\.",
            (_passing("Signature1", "entire_revision", "none"),),
        ),
    ),
    "expired": (
        _signed_by("bad-expired"),
        Expected(
            "failed",
            False,
            _failed("the signer's certificate had expired when it was used"),
            (_bad_signer("EXPIRED", "the signer's certificate had expired when it was used"),),
        ),
    ),
    "key-usage": (
        _signed_by("bad-keyusage"),
        Expected(
            "failed",
            False,
            _failed(
                "the signer's certificate is not valid for signing "
                "(key usage digitalSignature or nonRepudiation is required)"
            ),
            (
                _bad_signer(
                    "CHAIN_CONSTRAINTS_FAILURE",
                    "the signer's certificate is not valid for signing "
                    "(key usage digitalSignature or nonRepudiation is required)",
                ),
            ),
        ),
    ),
    "rogue-root": (
        _signed_by("rogue-agency-tpd"),
        Expected(
            "failed",
            False,
            _failed("the signer's certificate does not chain to a trusted root"),
            (
                _bad_signer(
                    "NO_CERTIFICATE_CHAIN_FOUND",
                    "the signer's certificate does not chain to a trusted root",
                ),
            ),
        ),
    ),
    "revoked-from-embedded-crl": (
        _revoked_with_embedded_crl,
        Expected(
            "failed",
            False,
            r"Signature 'Signature1' failed: " + REVOKED + r"\.",
            (
                Signature(
                    "Signature1",
                    "failed",
                    "REVOKED",
                    "entire_revision",
                    "dss_and_timestamps",
                    revocation="revoked",
                    problems=(REVOKED,),
                ),
            ),
        ),
    ),
}


def _verify(data: bytes, trust: TrustSettings) -> VerificationReport:
    return verify_pdf(data, trust=trust, offline=True, timeout=30.0)


def _check(report: VerificationReport, expected: Expected) -> None:
    detail = report.to_dict()
    assert report.verdict == expected.verdict, detail
    assert report.modified_after_signing is expected.modified, detail
    assert re.fullmatch(expected.reason, report.reason), detail
    assert len(report.signatures) == len(expected.signatures), detail
    for signature, want in zip(report.signatures, expected.signatures, strict=True):
        found = (
            signature.field,
            signature.verdict,
            signature.subindication,
            signature.coverage,
            signature.modifications,
            signature.integrity,
            signature.trusted,
            signature.revocation,
        )
        wanted = (
            want.field,
            want.verdict,
            want.subindication,
            want.coverage,
            want.modifications,
            want.integrity,
            want.trusted,
            want.revocation,
        )
        assert found == wanted, detail
        assert len(signature.problems) == len(want.problems), detail
        for problem, pattern in zip(signature.problems, want.problems, strict=True):
            assert re.fullmatch(pattern, problem, re.DOTALL), (pattern, detail)


@pytest.mark.parametrize("case", list(CASES))
def test_verdicts_and_reasons_are_pinned(
    documents: Documents, trust: TrustSettings, case: str
) -> None:
    make, expected = CASES[case]
    _check(_verify(make(documents), trust), expected)


# --- no decision depends on a message's wording


def _reworded(text: str) -> str:
    """The same message in other words (ROT13): nothing a verdict could search for is left."""
    return codecs.encode(text, "rot13")


@pytest.mark.parametrize("case", list(CASES))
def test_rewording_the_problems_moves_no_verdict(
    documents: Documents, trust: TrustSettings, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every problem a signature report carries is reworded as the judgement writes it.

    The document's verdict, whether it was modified after signing, and each signature's verdict
    and findings must stay exactly as they are with the real wording.
    """
    make, expected = CASES[case]
    data = make(documents)
    plain = _verify(data, trust)
    real_report = judgement.SignatureReport

    def reworded_report(**fields: Any) -> Any:
        fields["problems"] = tuple(_reworded(p) for p in fields.get("problems", ()))
        return real_report(**fields)

    monkeypatch.setattr(judgement, "SignatureReport", reworded_report)
    report = _verify(data, trust)
    assert report.verdict == plain.verdict == expected.verdict, report.to_dict()
    assert report.modified_after_signing is plain.modified_after_signing, report.to_dict()
    for signature, before in zip(report.signatures, plain.signatures, strict=True):
        assert signature.verdict == before.verdict, report.to_dict()
        assert signature.subindication == before.subindication, report.to_dict()
        # The reworded problems are the same ones (pyHanko's detail may differ run to run).
        assert [_reworded(p)[:30] for p in signature.problems] == [
            p[:30] for p in before.problems
        ], report.to_dict()


@pytest.mark.parametrize(
    ("case", "message", "wording"),
    [
        ("page-added", "CHANGED_AFTER_SIGNING", "altered later [{parts}]"),
        ("sneaky-signature-field", "UNCOVERED_CHANGES", "unsigned additions at the end"),
        ("signed-after-a-no-changes-certification", "BEYOND_CERTIFICATION", "beyond its DocMDP"),
    ],
)
def test_the_reason_quotes_the_changed_parts_in_any_wording(
    documents: Documents,
    trust: TrustSettings,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    message: str,
    wording: str,
) -> None:
    """A change after signing, worded otherwise: still modified, and the reason still quotes
    the headline alone (never pyHanko's detail, which follows it in the problem)."""
    make, expected = CASES[case]
    monkeypatch.setattr(judgement, message, wording)
    report = _verify(make(documents), trust)
    headline = wording.format(parts="the page tree, objects outside any permitted change")
    assert report.verdict == "failed", report.to_dict()
    assert report.modified_after_signing is True, report.to_dict()
    assert report.reason == f"Signature 'Signature1' failed: {headline}.", report.to_dict()
    first = report.signatures[0]
    assert first.problems[0].startswith(headline), report.to_dict()
    assert first.modifications == expected.signatures[0].modifications
