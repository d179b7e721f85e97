"""Offline verification with the development root, and the checks of a passed report."""

from __future__ import annotations

from pathlib import Path

from signer.trust import load_trust
from signer.verification import VerificationReport, verify_pdf


def verify_offline(data: bytes | Path) -> VerificationReport:
    """``verify_pdf`` trusting the development root, with no network request."""
    return verify_pdf(data, trust=load_trust(development=True), offline=True)


def assert_passed(report: VerificationReport, signatures: int) -> None:
    """Passed, unmodified, with ``signatures`` signatures (timestamps aside), each passed."""
    detail = report.to_dict()
    assert report.verdict == "passed", detail
    assert report.modified_after_signing is False, detail
    assert len([s for s in report.signatures if s.kind == "signature"]) == signatures, detail
    assert all(s.verdict == "passed" for s in report.signatures), detail
