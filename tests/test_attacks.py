"""A verifier forgeries cannot fool: each attack of issue 2 §5, built here, must be failed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers, timestamps
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import DocumentSecurityStore, add_validation_info

from signer.devpki import DEV_PASSPHRASE, DevServices, dev_cert_path, dev_crl_path, dev_p12_path
from signer.errors import UnreadablePdfError
from signer.trust import TrustSettings, load_trust
from signer.verification import VerificationReport, verify_pdf
from tests.support import attacks
from tests.support.devservices import fetching_context

# Reason vocabularies: a reason must name what went wrong, in any wording from its family.
MODIFIED = ("modif", "change", "altered", "after sign", "added")
INTEGRITY = ("integrity", "digest", "hash", "altered", "tamper", "match", "invalid", "broken")
COVERAGE = ("cover", "byte range", "byterange", "append", "trailing", "%%eof", "entire file")
STRUCTURE = (*COVERAGE, "contents", "malformed", "cms", "signerinfo", "signer info", "invalid")
XREF = ("xref", "cross-reference", "cross reference", "revision", *COVERAGE)
PAGE = ("page", "content", *MODIFIED)
ANNOTATION = ("annotation", *MODIFIED)
FORM = ("form", "field", *MODIFIED)
TRUST = ("trust", "root", "chain", "issuer")


@pytest.fixture(scope="module")
def sample(sample_pdf: Path) -> bytes:
    return sample_pdf.read_bytes()


@pytest.fixture(scope="module")
def other_document(samples_dir: Path) -> bytes:
    return (samples_dir / "giay-moi-doi-thoai.pdf").read_bytes()


@pytest.fixture(scope="module")
def signed(sample: bytes, tpd: signers.SimpleSigner) -> bytes:
    return attacks.sign(sample, tpd)


@pytest.fixture(scope="module")
def planted(sample: bytes) -> attacks.PlantedDocument:
    return attacks.plant_shadow_objects(sample)


@pytest.fixture(scope="module")
def planted_signed(planted: attacks.PlantedDocument, tpd: signers.SimpleSigner) -> bytes:
    return attacks.sign(planted.pdf, tpd)


@pytest.fixture(scope="module")
def with_form(sample: bytes) -> bytes:
    return attacks.add_text_field(sample)


@pytest.fixture
def verify(tmp_path: Path, trust: TrustSettings) -> Callable[..., VerificationReport]:
    """Verify bytes as a file, offline unless asked; any exception but UnreadablePdfError fails.

    Online, pass `trust=dev_trust` (the run's development services).
    """
    default_trust = trust

    def run(
        data: bytes, *, offline: bool = True, trust: TrustSettings = default_trust
    ) -> VerificationReport:
        path = tmp_path / "doc.pdf"
        path.write_bytes(data)
        started = time.monotonic()
        report = verify_pdf(path, trust=trust, offline=offline, timeout=30.0)
        assert time.monotonic() - started < 10
        return report

    return run


def assert_failed(
    report: VerificationReport,
    words: tuple[str, ...],
    *,
    field: str = "Signature1",
    file_level: bool = False,
    **expected: tuple[object, ...],
) -> None:
    """Failed, for a reason from this vocabulary, naming this field.

    The field's own verdict must be failed too, except for a ``file_level`` problem (bytes after the
    last revision): the signature may stand, but it must not claim to cover the entire file.
    """
    detail = report.to_dict()
    assert report.verdict == "failed", detail
    assert any(word in report.reason.lower() for word in words), detail
    by_field = {signature.field: signature for signature in report.signatures}
    assert field in by_field, detail
    signature = by_field[field]
    if file_level:
        assert report.modified_after_signing is True, detail
        assert signature.coverage != "entire_file", detail
    else:
        assert signature.verdict == "failed", detail
        assert signature.problems, detail
    for name, allowed in expected.items():
        assert getattr(signature, name) in allowed, (name, detail)


# --- positive controls: the same fixtures, untouched, pass


def test_untouched_signature_passes(
    verify: Callable[..., VerificationReport], signed: bytes
) -> None:
    report = verify(signed)
    assert report.verdict == "passed", report.to_dict()
    assert report.modified_after_signing is False
    (signature,) = report.signatures
    assert (signature.field, signature.integrity, signature.trusted) == ("Signature1", True, True)
    assert (signature.coverage, signature.modifications) == ("entire_file", "none")
    assert signature.revocation == "not_checked"


@pytest.mark.parametrize("document", ["planted_signed", "form_signed"])
def test_prepared_documents_pass_untouched(
    verify: Callable[..., VerificationReport],
    request: pytest.FixtureRequest,
    document: str,
    with_form: bytes,
    tpd: signers.SimpleSigner,
) -> None:
    """The planted objects and the text field are harmless until the attack switches them on."""
    data = (
        attacks.sign(with_form, tpd)
        if document == "form_signed"
        else request.getfixturevalue(document)
    )
    report = verify(data)
    assert report.verdict == "passed", report.to_dict()


def test_second_signature_in_its_own_field_passes(
    verify: Callable[..., VerificationReport], sample: bytes, tpd: signers.SimpleSigner
) -> None:
    prepared = attacks.add_signature_fields(sample, "Signature1", "Signature2")
    chairman = attacks.load_p12_signer(dev_p12_path("official-tpd-chutich"), DEV_PASSPHRASE)
    both = attacks.sign(attacks.sign(prepared, chairman), tpd, field="Signature2")
    report = verify(both)
    assert report.verdict == "passed", report.to_dict()
    assert [s.field for s in report.signatures] == ["Signature1", "Signature2"]
    assert all(s.verdict == "passed" for s in report.signatures)
    assert report.signatures[-1].coverage == "entire_file"


def test_dss_and_document_timestamp_pass(
    verify: Callable[..., VerificationReport], signed: bytes, dev: DevServices
) -> None:
    """PAdES maintenance after signing (DSS, then a document timestamp) is a permitted addition."""
    context = fetching_context(load_trust(development=True).roots, dev)
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
    for data in (with_dss.getvalue(), stamped.getvalue()):
        report = verify(data)
        assert report.verdict == "passed", report.to_dict()
        assert report.signatures[0].modifications in ("dss_and_timestamps", "none")
        assert report.signatures[0].revocation == "good"


# --- 1. byte flips


def test_byte_flipped_in_content_stream(
    verify: Callable[..., VerificationReport], signed: bytes
) -> None:
    report = verify(attacks.flip_in_content_stream(signed))
    assert_failed(report, INTEGRITY, integrity=(False,))


def test_bit_flipped_in_signature_value(
    verify: Callable[..., VerificationReport], signed: bytes
) -> None:
    report = verify(attacks.flip_in_signature_value(signed))
    assert_failed(report, INTEGRITY, integrity=(False,))


# --- 2. incremental saving attacks


@pytest.mark.parametrize("attack", [attacks.replace_page_content, attacks.add_page])
def test_incremental_saving_attack(
    verify: Callable[..., VerificationReport], signed: bytes, attack: Callable[[bytes], bytes]
) -> None:
    report = verify(attack(signed))
    assert_failed(report, PAGE, integrity=(True,), modifications=("other",))
    assert report.modified_after_signing is True


# --- 3. shadow attacks


@pytest.mark.parametrize(
    "attack",
    [attacks.reveal_overlay, attacks.redefine_page_via_xref, attacks.swap_font],
    ids=["hide", "hide-and-replace-xref-only", "replace-font"],
)
def test_shadow_attack(
    verify: Callable[..., VerificationReport],
    planted: attacks.PlantedDocument,
    planted_signed: bytes,
    attack: Callable[[bytes, attacks.PlantedDocument], bytes],
) -> None:
    report = verify(attack(planted_signed, planted))
    assert_failed(report, PAGE, integrity=(True,), modifications=("other",))
    assert report.modified_after_signing is True


def test_shadow_replace_form_value(
    verify: Callable[..., VerificationReport], with_form: bytes, tpd: signers.SimpleSigner
) -> None:
    """pyHanko's default policy calls this harmless form filling; only signature fields may move."""
    report = verify(attacks.fill_text_field(attacks.sign(with_form, tpd)))
    assert_failed(report, FORM, modifications=("form_filling", "other"))


# --- 4. overlay annotations


@pytest.mark.parametrize("subtype", ["/FreeText", "/Stamp"])
def test_overlay_annotation(
    verify: Callable[..., VerificationReport], signed: bytes, subtype: str
) -> None:
    report = verify(attacks.add_annotation(signed, subtype))
    assert_failed(report, ANNOTATION, modifications=("annotations", "other"))


def test_sneaky_signature_field(verify: Callable[..., VerificationReport], signed: bytes) -> None:
    """A never-signed signature field added later whose widget paints over the page."""
    report = verify(attacks.add_sneaky_signature_field(signed))
    assert_failed(report, (*ANNOTATION, *FORM, "unsigned", "empty"))


# --- 5. trailing bytes


def test_trailing_garbage(verify: Callable[..., VerificationReport], signed: bytes) -> None:
    report = verify(attacks.append_trailing_garbage(signed))
    assert_failed(report, COVERAGE, file_level=True)


@pytest.mark.parametrize("rebase", [False, True], ids=["raw", "offsets-rebased"])
def test_whole_pdf_appended(
    verify: Callable[..., VerificationReport], signed: bytes, other_document: bytes, rebase: bool
) -> None:
    report = verify(attacks.append_whole_pdf(signed, other_document, rebase=rebase))
    assert report.verdict == "failed", report.to_dict()
    if not rebase:
        assert_failed(report, (*COVERAGE, *XREF), file_level=True)


# --- 6. empty and broken xref updates


@pytest.mark.parametrize(
    "attack",
    [
        attacks.append_empty_xref_update,
        lambda pdf: attacks.append_empty_xref_update(pdf, no_subsection=True),
        attacks.append_broken_xref_update,
    ],
    ids=["empty-subsection", "no-subsection", "broken-entries"],
)
def test_xref_update(
    verify: Callable[..., VerificationReport], signed: bytes, attack: Callable[[bytes], bytes]
) -> None:
    report = verify(attack(signed))
    assert_failed(report, XREF, file_level=True)


# --- 7. /ByteRange and /Contents tampering


def _byte_range_attacks(signed: bytes, tpd: signers.SimpleSigner) -> dict[str, bytes]:
    _, len1, start2, len2 = attacks.last_span(signed).byte_range
    gap = attacks.resign_over(signed, (0, len1 - 40, start2, len2), tpd)
    return {
        "gap-wider-than-contents-resigned": gap,
        "gap-wider-then-uncovered-byte-edited": attacks.flip_byte(gap, len1 - 12),
        "second-range-short-resigned": attacks.resign_over(
            signed, (0, len1, start2, len2 - 50), tpd
        ),
        "overlapping": attacks.set_byte_range(signed, f"0 {start2 + 10} {start2} {len2}"),
        "negative": attacks.set_byte_range(signed, f"0 -{len1} {start2} {len2}"),
        "non-integer": attacks.set_byte_range(signed, f"0 {len1}.5 {start2} {len2}"),
        "three-entries": attacks.set_byte_range(signed, f"0 {len1} {start2}"),
    }


BYTE_RANGE_CASES = [
    "gap-wider-than-contents-resigned",
    "gap-wider-then-uncovered-byte-edited",
    "second-range-short-resigned",
    "overlapping",
    "negative",
    "non-integer",
    "three-entries",
]


@pytest.mark.parametrize("case", BYTE_RANGE_CASES)
def test_byte_range_tampering(
    verify: Callable[..., VerificationReport], signed: bytes, tpd: signers.SimpleSigner, case: str
) -> None:
    report = verify(_byte_range_attacks(signed, tpd)[case])
    assert_failed(report, (*STRUCTURE, *INTEGRITY))
    signature = report.signatures[0]
    assert not signature.integrity or signature.coverage == "partial", report.to_dict()


@pytest.mark.parametrize(
    "forge",
    [
        lambda pdf, donor: attacks.set_contents(pdf, b""),
        lambda pdf, donor: attacks.set_contents(pdf, attacks.random_der()),
        lambda pdf, donor: attacks.duplicate_signer_info(pdf),
        attacks.transplant_contents,
    ],
    ids=["zeroed", "random-der", "two-signer-infos", "signature-of-another-document"],
)
def test_contents_tampering(
    verify: Callable[..., VerificationReport],
    signed: bytes,
    other_document: bytes,
    tpd: signers.SimpleSigner,
    forge: Callable[[bytes, bytes], bytes],
) -> None:
    donor = attacks.sign(other_document, tpd)
    report = verify(forge(signed, donor))
    assert_failed(report, (*STRUCTURE, *INTEGRITY), integrity=(False,))


# --- 8. certified, then modified


@pytest.mark.parametrize(
    ("docmdp", "modify", "words"),
    [
        (MDPPerm.NO_CHANGES, attacks.fill_text_field, FORM),
        (MDPPerm.NO_CHANGES, attacks.add_annotation, ANNOTATION),
        (MDPPerm.FILL_FORMS, attacks.add_annotation, ANNOTATION),
        (MDPPerm.FILL_FORMS, attacks.fill_text_field, FORM),
    ],
    ids=["no-changes+form", "no-changes+annotation", "fill-forms+annotation", "fill-forms+form"],
)
def test_certified_then_modified(
    verify: Callable[..., VerificationReport],
    with_form: bytes,
    tpd: signers.SimpleSigner,
    docmdp: MDPPerm,
    modify: Callable[[bytes], bytes],
    words: tuple[str, ...],
) -> None:
    certified = attacks.sign(with_form, tpd, certify=True, docmdp=docmdp)
    assert verify(certified).verdict == "passed"
    report = verify(modify(certified))
    assert_failed(report, words, modifications=("form_filling", "annotations", "other"))


# --- 9. certificates


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("bad-expired", ("expired", "validity")),
        ("bad-keyusage", ("key usage", "keyusage")),
        ("rogue-agency-tpd", TRUST),
    ],
)
def test_bad_certificate(
    verify: Callable[..., VerificationReport], sample: bytes, label: str, words: tuple[str, ...]
) -> None:
    forged = attacks.sign(sample, attacks.load_p12_signer(dev_p12_path(label), DEV_PASSPHRASE))
    report = verify(forged)
    assert_failed(report, words, integrity=(True,), trusted=(False,))


def test_self_signed_certificate_with_real_agency_name(
    verify: Callable[..., VerificationReport], sample: bytes, tmp_path: Path
) -> None:
    forger = attacks.make_self_signed_signer(tmp_path, dev_cert_path("agency-tpd"))
    report = verify(attacks.sign(sample, forger))
    assert_failed(report, TRUST, integrity=(True,), trusted=(False,))


@pytest.fixture(scope="module")
def revoked_signed(sample: bytes) -> bytes:
    return attacks.sign(
        sample, attacks.load_p12_signer(dev_p12_path("bad-revoked"), DEV_PASSPHRASE)
    )


def test_revoked_certificate_online(
    verify: Callable[..., VerificationReport], revoked_signed: bytes, dev_trust: TrustSettings
) -> None:
    report = verify(revoked_signed, offline=False, trust=dev_trust)
    assert_failed(report, ("revoked",), revocation=("revoked",))


def test_revoked_certificate_offline_from_embedded_crl(
    verify: Callable[..., VerificationReport], revoked_signed: bytes
) -> None:
    """Offline, the CRL embedded in the DSS is enough to know the certificate is revoked."""
    writer = IncrementalPdfFileWriter(io.BytesIO(revoked_signed))
    crl = attacks.load_crl(dev_crl_path())
    DocumentSecurityStore.supply_dss_in_writer(writer, None, crls=[crl])
    out = io.BytesIO()
    writer.write(out)
    report = verify(out.getvalue())
    assert_failed(report, ("revoked",), revocation=("revoked",))


def test_revoked_certificate_offline_without_data_is_not_checked(
    verify: Callable[..., VerificationReport], revoked_signed: bytes
) -> None:
    """The contract: offline and nothing embedded means `not_checked`, not a failure."""
    report = verify(revoked_signed)
    assert report.signatures[0].revocation == "not_checked", report.to_dict()


# --- 10. unreadable input


@pytest.mark.parametrize(
    "make",
    [
        lambda signed: b"",
        lambda signed: signed[: len(signed) // 2],
        lambda signed: attacks.PNG_BYTES,
        lambda signed: attacks.nested_arrays_pdf(),
    ],
    ids=["empty", "truncated-at-half", "png", "100000-nested-arrays"],
)
def test_unreadable_input(
    verify: Callable[..., VerificationReport], signed: bytes, make: Callable[[bytes], bytes]
) -> None:
    started = time.monotonic()
    with pytest.raises(UnreadablePdfError):
        verify(make(signed))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "data", [attacks.kids_cycle_pdf(), attacks.prev_loop_pdf()], ids=["kids-cycle", "prev-loop"]
)
def test_loops_end_quickly(verify: Callable[..., VerificationReport], data: bytes) -> None:
    """Reference cycles are unreadable or unsigned; either way no hang and no other exception."""
    started = time.monotonic()
    try:
        report = verify(data)
    except UnreadablePdfError:
        pass
    else:
        assert report.verdict == "failed", report.to_dict()
    assert time.monotonic() - started < 10


def test_command_line_exit_codes(signed: bytes, tmp_path: Path) -> None:
    """`congvan verify`: 1 for a forgery, 2 if a file is unreadable, a line each, no traceback."""
    files = {
        "good.pdf": signed,
        "forged.pdf": attacks.replace_page_content(signed),
        "nested.pdf": attacks.nested_arrays_pdf(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    def run(*names: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "exchange.cli", "verify", "--offline", "--json"]
        return subprocess.run(
            [*command, *(str(tmp_path / n) for n in names)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CONGVAN_ENV": "development"},
        )

    forged = run("good.pdf", "forged.pdf")
    assert forged.returncode == 1, forged.stderr
    verdicts = [json.loads(line)["verdict"] for line in forged.stdout.splitlines()]
    assert verdicts == ["passed", "failed"]
    assert len(forged.stderr.strip().splitlines()) == 1
    assert "forged.pdf" in forged.stderr

    unreadable = run("forged.pdf", "nested.pdf")
    assert unreadable.returncode == 2, unreadable.stderr
    assert len(unreadable.stderr.strip().splitlines()) == 2
    assert "Traceback" not in unreadable.stderr + unreadable.stdout
