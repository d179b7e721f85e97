"""Revocation judged against time: when did each signature and timestamp provably exist?

A certificate revoked after a signature was made leaves the signature valid, but only a trusted
timestamp proves when the signature existed (its proof of existence, POE): the signature
timestamp, or any later document timestamp, which covers every byte before it. So the checks run
from the newest timestamp to the oldest signature, each one judged at the earliest time a trusted
timestamp after it proves, or now when none does. A timestamp is itself a signature by a TSA
whose certificate may be revoked; it proves a time only when its TSA's status allows.

When a certificate is revoked at that time (ETSI EN 319 102-1):
- a time before the revocation that a trusted timestamp proves: the certificate is judged then,
  so it is good (the signature keeps its validity);
- the signature says of itself that it was made at or after the revocation (its claimed signing
  time, or the TSA's genTime for a timestamp), or a trusted content timestamp proves it was made
  after: FAILED/REVOKED;
- otherwise (it claims a time before the revocation that nothing proves, or claims none):
  INDETERMINATE/REVOKED_NO_POE. The claimed signing time is the signer's word, never proof;
  a compromised key can claim any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureStatus,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

from signer.verification.engine import (
    Outcome,
    VerificationContext,
    signed_revinfo,
    trust_manager_for,
)
from signer.verification.revocation import SIGNER, TSA, RevocationOutcome, check_revocation

# Statuses that let a timestamp prove a time. `not_checked` (offline, nothing embedded) does not
# fail a verdict by the contract, so it does not withdraw the proof either.
_USABLE = ("good", "not_checked")


def _usable_timestamp(status: SignatureStatus | None) -> bool:
    return (
        status is not None
        and bool(status.intact and status.valid and status.trusted)
        and status.validation_path is not None
    )


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def judged_in_time(
    outcome: RevocationOutcome,
    *,
    claimed: datetime | None,
    made_after: datetime | None,
    what: str,
) -> RevocationOutcome:
    """Failed or indeterminate for a certificate revoked at the time it was judged.

    `claimed`: the time the signature (or timestamp) states for itself; `made_after`: a time a
    trusted content timestamp proves it was made after; `what`: "signature" or "timestamp".
    """
    revoked_at = outcome.revoked_at
    if outcome.status != "revoked" or revoked_at is None:
        return outcome
    base = outcome.problem or "the certificate is revoked"
    if made_after is not None and made_after >= revoked_at:
        return replace(
            outcome,
            problem=f"{base}; a content timestamp proves the {what} was made after that "
            f"({made_after.isoformat()})",
        )
    if claimed is not None and claimed >= revoked_at:
        return replace(
            outcome,
            problem=f"{base}, before the {what} was made (its own signed time is "
            f"{claimed.isoformat()})",
        )
    said = f"it claims {claimed.isoformat()}, " if claimed is not None else ""
    return replace(
        outcome,
        no_poe=True,
        problem=f"{base}; nothing proves the {what} existed before that ({said}but no trusted "
        "timestamp before the revocation confirms it)",
    )


async def check_revocations(
    outcomes: Sequence[Outcome], context: VerificationContext
) -> list[Outcome]:
    """The outcomes (oldest first) with the revocation status of every signer and TSA."""
    checker = _Checker(trust_manager_for(context.trust), context)
    result = list(outcomes)
    proven: datetime | None = None  # the earliest time a trusted later timestamp proves
    for index in range(len(result) - 1, -1, -1):
        outcome = result[index]
        status = outcome.status
        if isinstance(status, DocumentTimestampStatus):
            rev = await checker.tsa(outcome, status, proven)
            result[index] = replace(outcome, revocation=rev)
            if rev is not None and rev.status in _USABLE:
                proven = _earliest(proven, status.timestamp)
        elif isinstance(status, PdfSignatureStatus):
            signature_proven = proven
            tsa = None
            tst = status.timestamp_validity
            if tst is not None:
                tsa = await checker.tsa(outcome, tst, proven)
                if tsa is not None and tsa.status in _USABLE:
                    signature_proven = _earliest(proven, tst.timestamp)
            rev = None
            if status.trusted and status.validation_path is not None:
                rev = await checker.check(outcome, status, signature_proven, SIGNER)
                content = status.content_timestamp_validity
                rev = judged_in_time(
                    rev,
                    claimed=status.signer_reported_dt,
                    made_after=content.timestamp
                    if content is not None and _usable_timestamp(content)
                    else None,
                    what="signature",
                )
            result[index] = replace(outcome, revocation=rev, timestamp_revocation=tsa)
    return result


@dataclass(frozen=True)
class _Checker:
    manager: SimpleTrustManager
    context: VerificationContext

    async def tsa(
        self, outcome: Outcome, status: TimestampSignatureStatus, proven: datetime | None
    ) -> RevocationOutcome | None:
        """The TSA's status for a trusted timestamp (None for one already failing)."""
        if not _usable_timestamp(status):
            return None
        rev = await self.check(outcome, status, proven, TSA)
        # A timestamp's genTime is the TSA's own statement of when it was made.
        return judged_in_time(rev, claimed=status.timestamp, made_after=None, what="timestamp")

    async def check(
        self, outcome: Outcome, status: SignatureStatus, proven: datetime | None, subject: str
    ) -> RevocationOutcome:
        """Embedded data (DSS, signed attributes) first, then online unless offline."""
        assert status.validation_path is not None
        embedded, context = outcome.embedded, self.context
        other_certs = list(context.dss.certs)
        crls, ocsps = list(context.dss.crls), list(context.dss.ocsps)
        if embedded is not None:
            other_certs.extend(embedded.other_embedded_certs)
            signed_crls, signed_ocsps = signed_revinfo(embedded)
            crls.extend(signed_crls)
            ocsps.extend(signed_ocsps)
        return await check_revocation(
            status.validation_path,
            manager=self.manager,
            other_certs=other_certs,
            crls=crls,
            ocsps=ocsps,
            offline=context.offline,
            moment=proven or context.now,
            timeout=context.timeout,
            development=context.trust.development,
            dev_services=context.trust.dev_services,
            subject=subject,
        )
