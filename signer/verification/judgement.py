"""Turning validation outcomes into signature reports, and the findings the verdict reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from asn1crypto import x509
from cryptography.x509 import load_der_x509_certificate
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)

from signer.verification.engine import (
    SIGNER_KEY_USAGE,
    Outcome,
    later_doc_timestamp,
    modification_name,
)
from signer.verification.model import (
    Coverage,
    Modifications,
    Revocation,
    SignatureReport,
    SignerInfo,
    Verdict,
)
from signer.verification.revocation import RevocationOutcome

_TRUST_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": (
        "NO_CERTIFICATE_CHAIN_FOUND",
        "the signer's certificate does not chain to a trusted root",
    ),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": (
        "CERTIFICATE_CHAIN_GENERAL_FAILURE",
        "the signer's certificate chain does not verify against the trusted roots",
    ),
    "CHAIN_CONSTRAINTS_FAILURE": (
        "CHAIN_CONSTRAINTS_FAILURE",
        "the signer's certificate is not valid for signing "
        "(key usage digitalSignature or nonRepudiation is required)",
    ),
    "OUT_OF_BOUNDS_NO_POE": ("EXPIRED", "the signer's certificate had expired when it was used"),
    "REVOKED_NO_POE": ("REVOKED", "the signer's certificate is revoked"),
    "REVOKED_CA_NO_POE": ("REVOKED", "a CA certificate in the signer's chain is revoked"),
    "CRYPTO_CONSTRAINTS_FAILURE": (
        "CRYPTO_CONSTRAINTS_FAILURE",
        "the signature uses an algorithm that is not allowed (e.g. SHA-1)",
    ),
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": (
        "CRYPTO_CONSTRAINTS_FAILURE",
        "the signature uses an algorithm that is no longer allowed",
    ),
    "TRY_LATER": ("TRY_LATER", "revocation data is not fresh enough"),
}


_signer_memo: dict[bytes, SignerInfo] = {}


def signer_info(cert: x509.Certificate) -> SignerInfo:
    """Name, agency, serial and issuer as printed in the certificate (memoised by encoding)."""
    encoding = cert.dump()
    info = _signer_memo.get(encoding)
    if info is None:
        info = _read_signer_info(cert)
        if len(_signer_memo) > 4096:
            _signer_memo.clear()
        _signer_memo[encoding] = info
    return info


def _read_signer_info(cert: x509.Certificate) -> SignerInfo:
    subject = cert.subject.native
    encoding = cert.dump()

    def first(key: str) -> str | None:
        return _first_value(subject, key)

    return SignerInfo(
        common_name=first("common_name") or cert.subject.human_friendly,
        organization=first("organization_name"),
        serial=format(cert.serial_number, "X"),
        issuer=load_der_x509_certificate(encoding).issuer.rfc4514_string(),
        organization_identifier=first("organization_identifier"),
        issuer_common_name=_first_value(cert.issuer.native, "common_name"),
    )


def _first_value(name: dict[str, object], key: str) -> str | None:
    value = name.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _key_usage_ok(cert: x509.Certificate) -> bool:
    try:
        SIGNER_KEY_USAGE.validate(cert)
    except Exception:  # InvalidCertificateError, or a certificate too broken to tell
        return False
    return True


def _coverage(level: SignatureCoverageLevel | None) -> Coverage:
    if level == SignatureCoverageLevel.ENTIRE_FILE:
        return "entire_file"
    if level == SignatureCoverageLevel.ENTIRE_REVISION:
        return "entire_revision"
    return "partial"


# Where pyHanko's difference analysis says a change sits, in words a reader understands.
_CHANGED_PARTS = (
    ("Contents", "page content"),
    (".Pages", "the page tree"),
    ("Kids", "the page tree"),
    ("/Page", "a page"),
    ("Annots", "annotations"),
    ("/Annot", "annotations"),
    ("AcroForm", "form fields"),
    ("OpenAction", "the open action"),
    (".Names", "the document name tree"),
    ("Perms", "the document permissions"),
    ("unexplained xrefs", "objects outside any permitted change"),
)


def describe_changes(message: str) -> str:
    """Name the parts of the document a pyHanko difference-analysis message points at."""
    parts: list[str] = []
    for marker, part in _CHANGED_PARTS:
        if marker in message and part not in parts:
            parts.append(part)
    return ", ".join(parts) if parts else "objects that no signature permits to change"


# The problems that say the document was changed after signing beyond what is permitted. The
# judgement flags them (`Judgement.changed_after_signing`); their wording decides nothing.
CHANGED_AFTER_SIGNING = "the document was changed after signing ({parts})"
NOT_PERMITTED_CHANGES = "not permitted changes after signing ({modifications})"
BEYOND_CERTIFICATION = "changes after signing exceed what the certification signature permits"
UNCOVERED_CHANGES = "changes after the last signature are not covered by any signature"
# What may follow a signature without the document counting as modified after signing.
PERMITTED_MODIFICATIONS: tuple[Modifications, ...] = ("none", "dss_and_timestamps", "form_filling")


@dataclass(frozen=True)
class Judgement:
    """One signature's report, and what the document's verdict reads from it besides.

    `changed_after_signing`: the signature failed because of a change made after it (pyHanko's
    difference analysis, a modification level beyond form filling, beyond its certification's
    permission, or after the last signature and covered by none). `headline`: its first problem
    as the document's reason quotes it (a difference-analysis problem without pyHanko's detail),
    or its subindication when it has none.
    """

    report: SignatureReport
    changed_after_signing: bool
    headline: str

    @property
    def modified(self) -> bool:
        """The document was changed after this signature beyond what the verifier permits."""
        report = self.report
        return (
            self.changed_after_signing
            or report.modifications not in PERMITTED_MODIFICATIONS
            or report.coverage == "partial"
        )


@dataclass
class _Findings:
    """Problems found so far on one signature, and the verdict and subindication they make."""

    problems: list[str] = field(default_factory=list)
    headline: str | None = None
    failed: bool = False
    indeterminate: bool = False
    subindication: str = "TOTAL_PASSED"
    changed_after_signing: bool = False

    def note(self, problem: str, headline: str | None = None) -> None:
        """A problem that by itself changes no verdict."""
        if self.headline is None:
            self.headline = problem if headline is None else headline
        self.problems.append(problem)

    def fail(self, subindication: str, problem: str, *, headline: str | None = None) -> None:
        if not self.failed:
            self.subindication = subindication
        self.failed = True
        self.note(problem, headline)

    def unsure(self, subindication: str, problem: str) -> None:
        if not self.failed and not self.indeterminate:
            self.subindication = subindication
        self.indeterminate = True
        self.note(problem)

    def changed(self, problem: str, *, headline: str | None = None) -> None:
        """A change after signing that nothing permits."""
        self.changed_after_signing = True
        self.fail("SIG_CONSTRAINTS_FAILURE", problem, headline=headline)

    def revocation(self, rev: RevocationOutcome, prefix: str = "") -> None:
        """Revoked: failed, or indeterminate without proof of time; unknown: indeterminate."""
        if rev.status == "revoked":
            problem = prefix + (rev.problem or "the certificate is revoked")
            if rev.no_poe:
                self.unsure("REVOKED_NO_POE", problem)
            else:
                self.fail("REVOKED", problem)
        elif rev.status == "unknown":
            self.unsure(
                "TRY_LATER", prefix + (rev.problem or "revocation status could not be established")
            )
        elif rev.problem and rev.status == "not_checked":
            self.note(prefix + rev.problem)

    @property
    def verdict(self) -> Verdict:
        return "failed" if self.failed else "indeterminate" if self.indeterminate else "passed"


@dataclass(frozen=True)
class _Times:
    """What a signature or document timestamp says of its time and its certificate's status."""

    signed_at: str | None = None
    timestamp: str | None = None
    revocation: Revocation = "not_checked"
    pades_level: str | None = None


def judge(outcomes: Sequence[Outcome], index: int) -> Judgement:
    """The judgement on the signature or document timestamp `outcomes[index]` (oldest first)."""
    outcome = outcomes[index]
    signer = _signer(outcome)
    status = outcome.status
    if not isinstance(status, PdfSignatureStatus | DocumentTimestampStatus):
        return _malformed(outcome, signer)
    findings = _Findings()
    integrity, trusted = _judge_integrity_and_trust(status, findings)
    coverage, modifications = _judge_changes(status, findings, last=index == len(outcomes) - 1)
    if isinstance(status, PdfSignatureStatus):
        times = _judge_signature(outcome, status, findings, outcomes, index)
    else:
        times = _judge_document_timestamp(outcome, status, findings)
    report = SignatureReport(
        field=outcome.field,
        signer=signer,
        signed_at=times.signed_at,
        timestamp=times.timestamp,
        integrity=integrity,
        trusted=trusted,
        revocation=times.revocation,
        coverage=coverage,
        modifications=modifications,
        pades_level=times.pades_level,
        verdict=findings.verdict,
        subindication=findings.subindication,
        problems=tuple(findings.problems),
        kind=_kind(outcome),
    )
    headline = findings.headline if findings.headline is not None else findings.subindication
    return Judgement(report, findings.changed_after_signing, headline)


def _kind(outcome: Outcome) -> Literal["signature", "document_timestamp"]:
    return "signature" if outcome.kind == "signature" else "document_timestamp"


def _signer(outcome: Outcome) -> SignerInfo | None:
    if outcome.embedded is None:
        return None
    try:
        return signer_info(outcome.embedded.signer_cert)
    except Exception:  # no usable signer certificate: reported as a problem
        return None


def _malformed(outcome: Outcome, signer: SignerInfo | None) -> Judgement:
    """A signature pyHanko could not validate at all: failed, with the structural problem."""
    problem = outcome.structural_problem or "the signature is malformed"
    report = SignatureReport(
        field=outcome.field,
        signer=signer,
        signed_at=None,
        timestamp=None,
        integrity=False,
        trusted=False,
        revocation="not_checked",
        coverage="partial",
        modifications="other",
        pades_level=None,
        verdict="failed",
        subindication=outcome.structural_subindication,
        problems=(problem,),
        kind=_kind(outcome),
    )
    return Judgement(report, changed_after_signing=False, headline=problem)


def _judge_integrity_and_trust(
    status: PdfSignatureStatus | DocumentTimestampStatus, findings: _Findings
) -> tuple[bool, bool]:
    """Integrity, the cryptographic signature and the signer's chain: (integrity, trusted)."""
    if not status.intact:
        findings.fail("HASH_FAILURE", "the signed bytes were changed (digest mismatch)")
    elif not status.valid:
        findings.fail("SIG_CRYPTO_FAILURE", "the cryptographic signature is invalid")
    elif status.trust_problem_indic is not None:
        name = str(getattr(status.trust_problem_indic, "name", status.trust_problem_indic))
        sub, text = _TRUST_PROBLEMS.get(
            name, (name, f"the signer's certificate failed validation ({name})")
        )
        if name == "CHAIN_CONSTRAINTS_FAILURE" and _key_usage_ok(status.signing_cert):
            # pyHanko reports a self-signed certificate with the same indication.
            text = (
                "the signer's certificate is self-signed or otherwise not chained to a trusted root"
            )
        findings.fail(sub, text)
    elif status.validation_path is None:
        findings.fail("NO_CERTIFICATE_CHAIN_FOUND", "no path to a trusted root was found")
    integrity = bool(status.intact and status.valid)
    return integrity, bool(status.trusted) and not findings.failed


def _judge_changes(
    status: PdfSignatureStatus | DocumentTimestampStatus, findings: _Findings, *, last: bool
) -> tuple[Coverage, Modifications]:
    """What the signature covers and what changed after it: (coverage, modifications)."""
    coverage = _coverage(status.coverage)
    level = status.modification_level
    modifications = modification_name(level)
    if coverage == "partial":
        findings.fail("FORMAT_FAILURE", "the signature does not cover a whole revision of the file")
    diff = status.diff_result
    if isinstance(diff, SuspiciousModification):
        headline = CHANGED_AFTER_SIGNING.format(parts=describe_changes(str(diff)))
        findings.changed(f"{headline}: {_diff_detail(diff)}", headline=headline)
    elif level is None or level > ModificationLevel.FORM_FILLING:
        findings.changed(NOT_PERMITTED_CHANGES.format(modifications=modifications))
    elif isinstance(status, PdfSignatureStatus) and status.docmdp_ok is False:
        findings.changed(BEYOND_CERTIFICATION)
    elif last and level > ModificationLevel.LTA_UPDATES:
        findings.changed(UNCOVERED_CHANGES)
    return coverage, modifications


def _diff_detail(diff: SuspiciousModification) -> str:
    """pyHanko's account of a suspicious change, on one line and at most 300 characters."""
    detail = " ".join(str(diff).split())
    return detail[:297] + "..." if len(detail) > 300 else detail


def _judge_signature(
    outcome: Outcome,
    status: PdfSignatureStatus,
    findings: _Findings,
    outcomes: Sequence[Outcome],
    index: int,
) -> _Times:
    """A signature's timestamp, seed values, PAdES level, and its signer's and TSA's status."""
    signed_at = None
    if status.signer_reported_dt is not None:
        signed_at = status.signer_reported_dt.isoformat()
    timestamp = None
    tst = status.timestamp_validity
    if tst is not None:
        timestamp = tst.timestamp.isoformat()
        if not (tst.intact and tst.valid and tst.trusted):
            findings.fail(
                "SIG_CONSTRAINTS_FAILURE", "the signature timestamp is not valid or trusted"
            )
    if status.has_seed_values and not status.seed_value_ok:
        findings.fail("SIG_CONSTRAINTS_FAILURE", "the signature violates its field's seed values")
    pades_level = _pades_level(status, outcomes, index)
    revocation: Revocation = "not_checked"
    if outcome.revocation is not None:
        revocation = outcome.revocation.status
        findings.revocation(outcome.revocation)
    elif status.revoked:
        revocation = "revoked"
    if outcome.timestamp_revocation is not None:
        findings.revocation(outcome.timestamp_revocation, "signature timestamp: ")
    return _Times(signed_at, timestamp, revocation, pades_level)


def _judge_document_timestamp(
    outcome: Outcome, status: DocumentTimestampStatus, findings: _Findings
) -> _Times:
    """A document timestamp's time and its TSA's status."""
    revocation: Revocation = "not_checked"
    if outcome.revocation is not None:  # the TSA's certificate
        revocation = outcome.revocation.status
        findings.revocation(outcome.revocation)
    return _Times(timestamp=status.timestamp.isoformat(), revocation=revocation)


def _pades_level(status: PdfSignatureStatus, outcomes: Sequence[Outcome], index: int) -> str:
    if status.timestamp_validity is None:
        return "B-B"
    if not outcomes[index].embedded_revinfo:
        return "B-T"
    return "B-LTA" if later_doc_timestamp(outcomes, index) else "B-LT"


__all__ = ["DiffResult", "Judgement", "judge", "signer_info"]
