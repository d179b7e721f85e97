"""Frozen result types of verification; `to_dict()` gives the JSON contract of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["passed", "failed", "indeterminate"]
Revocation = Literal["good", "revoked", "unknown", "not_checked"]
Coverage = Literal["entire_file", "entire_revision", "partial"]
Modifications = Literal["none", "dss_and_timestamps", "form_filling", "annotations", "other"]


@dataclass(frozen=True)
class SignerInfo:
    """Who signed, read from the signer's certificate."""

    common_name: str
    organization: str | None
    serial: str
    issuer: str
    organization_identifier: str | None = None
    issuer_common_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's `signer` object (plus the agency identifier)."""
        return {
            "common_name": self.common_name,
            "organization": self.organization,
            "serial": self.serial,
            "issuer": self.issuer,
            "organization_identifier": self.organization_identifier,
            "issuer_common_name": self.issuer_common_name,
        }


@dataclass(frozen=True)
class SignatureReport:
    """The judgement on one signature or document timestamp."""

    field: str
    signer: SignerInfo | None
    signed_at: str | None
    timestamp: str | None
    integrity: bool
    trusted: bool
    revocation: Revocation
    coverage: Coverage
    modifications: Modifications
    pades_level: str | None
    verdict: Verdict
    subindication: str
    problems: tuple[str, ...] = ()
    kind: Literal["signature", "document_timestamp"] = "signature"

    def to_dict(self) -> dict[str, Any]:
        """One entry of the contract's `signatures[]`."""
        return {
            "field": self.field,
            "kind": self.kind,
            "signer": None if self.signer is None else self.signer.to_dict(),
            "signed_at": self.signed_at,
            "timestamp": self.timestamp,
            "integrity": self.integrity,
            "trusted": self.trusted,
            "revocation": self.revocation,
            "coverage": self.coverage,
            "modifications": self.modifications,
            "pades_level": self.pades_level,
            "verdict": self.verdict,
            "subindication": self.subindication,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class VerificationReport:
    """The verdict on one file and the reports of its signatures, oldest first."""

    file: str
    verdict: Verdict
    reason: str
    modified_after_signing: bool
    signatures: tuple[SignatureReport, ...]

    def to_dict(self) -> dict[str, Any]:
        """The report as `congvan verify --json` prints it."""
        return {
            "file": self.file,
            "verdict": self.verdict,
            "reason": self.reason,
            "modified_after_signing": self.modified_after_signing,
            "signatures": [signature.to_dict() for signature in self.signatures],
        }
