"""Turning validation outcomes into signature reports and the document's verdict."""

from __future__ import annotations

from collections.abc import Sequence

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
    EmbeddedRevinfo,
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


def _diff_problem(status: PdfSignatureStatus | DocumentTimestampStatus) -> str | None:
    diff = status.diff_result
    if isinstance(diff, SuspiciousModification):
        detail = " ".join(str(diff).split())
        if len(detail) > 300:
            detail = detail[:297] + "..."
        return f"the document was changed after signing ({describe_changes(str(diff))}): {detail}"
    return None


def _pades_level(status: PdfSignatureStatus, outcomes: Sequence[Outcome], index: int) -> str:
    if status.timestamp_validity is None:
        return "B-B"
    if not outcomes[index].embedded_revinfo:
        return "B-T"
    return "B-LTA" if later_doc_timestamp(outcomes, index) else "B-LT"


def report_for(
    outcome: Outcome, *, last: bool, dss: EmbeddedRevinfo, outcomes: Sequence[Outcome], index: int
) -> SignatureReport:
    """The report for one signature or document timestamp."""
    signer = None
    if outcome.embedded is not None:
        try:
            signer = signer_info(outcome.embedded.signer_cert)
        except Exception:  # no usable signer certificate: reported as a problem below
            signer = None
    status = outcome.status
    if not isinstance(status, PdfSignatureStatus | DocumentTimestampStatus):
        return SignatureReport(
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
            problems=(outcome.structural_problem or "the signature is malformed",),
            kind="signature" if outcome.kind == "signature" else "document_timestamp",
        )

    problems: list[str] = []
    failed = False
    indeterminate = False
    subindication = "TOTAL_PASSED"

    def fail(sub: str, problem: str) -> None:
        nonlocal failed, subindication
        if not failed:
            subindication = sub
        failed = True
        problems.append(problem)

    def unsure(sub: str, problem: str) -> None:
        nonlocal indeterminate, subindication
        if not failed and not indeterminate:
            subindication = sub
        indeterminate = True
        problems.append(problem)

    def judge_revocation(rev: RevocationOutcome, prefix: str = "") -> None:
        """Revoked: failed, or indeterminate without proof of time; unknown: indeterminate."""
        if rev.status == "revoked":
            problem = prefix + (rev.problem or "the certificate is revoked")
            if rev.no_poe:
                unsure("REVOKED_NO_POE", problem)
            else:
                fail("REVOKED", problem)
        elif rev.status == "unknown":
            unsure(
                "TRY_LATER", prefix + (rev.problem or "revocation status could not be established")
            )
        elif rev.problem and rev.status == "not_checked":
            problems.append(prefix + rev.problem)

    integrity = bool(status.intact and status.valid)
    if not status.intact:
        fail("HASH_FAILURE", "the signed bytes were changed (digest mismatch)")
    elif not status.valid:
        fail("SIG_CRYPTO_FAILURE", "the cryptographic signature is invalid")
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
        fail(sub, text)
    elif status.validation_path is None:
        fail("NO_CERTIFICATE_CHAIN_FOUND", "no path to a trusted root was found")
    trusted = bool(status.trusted) and not failed

    coverage = _coverage(status.coverage)
    level = status.modification_level
    modifications: Modifications = modification_name(level)
    if coverage == "partial":
        fail("FORMAT_FAILURE", "the signature does not cover a whole revision of the file")
    diff_problem = _diff_problem(status)
    if diff_problem:
        fail("SIG_CONSTRAINTS_FAILURE", diff_problem)
    elif level is None or level > ModificationLevel.FORM_FILLING:
        fail("SIG_CONSTRAINTS_FAILURE", f"not permitted changes after signing ({modifications})")
    elif isinstance(status, PdfSignatureStatus) and status.docmdp_ok is False:
        fail(
            "SIG_CONSTRAINTS_FAILURE",
            "changes after signing exceed what the certification signature permits",
        )
    elif last and level > ModificationLevel.LTA_UPDATES:
        fail(
            "SIG_CONSTRAINTS_FAILURE",
            "changes after the last signature are not covered by any signature",
        )

    revocation: Revocation = "not_checked"
    timestamp = None
    signed_at = None
    pades_level = None
    if isinstance(status, PdfSignatureStatus):
        if status.signer_reported_dt is not None:
            signed_at = status.signer_reported_dt.isoformat()
        tst = status.timestamp_validity
        if tst is not None:
            timestamp = tst.timestamp.isoformat()
            if not (tst.intact and tst.valid and tst.trusted):
                fail("SIG_CONSTRAINTS_FAILURE", "the signature timestamp is not valid or trusted")
        if status.has_seed_values and not status.seed_value_ok:
            fail("SIG_CONSTRAINTS_FAILURE", "the signature violates its field's seed values")
        pades_level = _pades_level(status, outcomes, index)
        rev = outcome.revocation
        if rev is not None:
            revocation = rev.status
            judge_revocation(rev)
        elif status.revoked:
            revocation = "revoked"
        if outcome.timestamp_revocation is not None:
            judge_revocation(outcome.timestamp_revocation, "signature timestamp: ")
    else:
        timestamp = status.timestamp.isoformat()
        if outcome.revocation is not None:  # the TSA's certificate
            revocation = outcome.revocation.status
            judge_revocation(outcome.revocation)

    verdict: Verdict = "failed" if failed else "indeterminate" if indeterminate else "passed"
    return SignatureReport(
        field=outcome.field,
        signer=signer,
        signed_at=signed_at,
        timestamp=timestamp,
        integrity=integrity,
        trusted=trusted,
        revocation=revocation,
        coverage=coverage,
        modifications=modifications,
        pades_level=pades_level,
        verdict=verdict,
        subindication=subindication,
        problems=tuple(problems),
        kind="signature" if outcome.kind == "signature" else "document_timestamp",
    )


__all__ = ["DiffResult", "report_for", "signer_info"]
