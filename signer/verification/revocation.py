"""Revocation status of a validated signer path: embedded data first, then CRL/OCSP over HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from asn1crypto import x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.validate import async_validate_path

from signer.devpki import BUILT_IN_DEV_SERVICES, DevServices
from signer.verification.speedups import SIGNATURE_VALIDATOR

Status = Literal["good", "revoked", "unknown", "not_checked"]

# The signer's own certificate must have CRL or OCSP evidence; CA certificates only when they
# declare where to find it. Online, a declared source that cannot be reached is a failure
# (hard-fail); offline, nothing is fetched, so undeclared-or-missing CA data is tolerated.
_ONLINE_POLICY = RevocationCheckingPolicy(
    ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
    intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
)
_OFFLINE_POLICY = RevocationCheckingPolicy(
    ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
    intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
)
_MAX_FETCH_SECONDS = 10.0
SIGNER = "the signer's certificate"
TSA = "the timestamp authority's certificate"


@dataclass(frozen=True)
class RevocationOutcome:
    """The revocation status of a certificate path, and why when not good.

    `no_poe`: revoked, but nothing proves whether the signature (or timestamp) was made before
    or after the revocation: ETSI EN 319 102-1 INDETERMINATE/REVOKED_NO_POE, not FAILED/REVOKED.
    """

    status: Status
    problem: str | None = None
    revoked_at: datetime | None = None
    no_poe: bool = False


async def check_revocation(
    path: ValidationPath,
    *,
    manager: SimpleTrustManager,
    other_certs: Sequence[x509.Certificate],
    crls: Sequence[Any],
    ocsps: Sequence[Any],
    offline: bool,
    moment: datetime | None,
    timeout: float | None,
    development: bool = False,
    dev_services: DevServices = BUILT_IN_DEV_SERVICES,
    subject: str = SIGNER,
) -> RevocationOutcome:
    """Check every certificate of `path` for revocation at `moment` (None: now).

    `subject` names the path's end certificate in problems (the signer's, or a TSA's);
    `development` lets requests to the built-in development address go to `dev_services`.
    """
    if offline and not crls and not ocsps:
        return RevocationOutcome("not_checked")
    fetch_timeout = min(timeout or _MAX_FETCH_SECONDS, _MAX_FETCH_SECONDS)
    backend = None
    if not offline:
        # Imported only when something is fetched (it brings aiohttp in); owned, so the
        # context's aclose() ends the session.
        from signer.fetching import fetcher_backend

        backend = fetcher_backend(
            development=development, dev_services=dev_services, timeout=fetch_timeout
        )
    context = ValidationContext(
        trust_manager=manager,
        other_certs=list(other_certs),
        moment=moment,
        crls=list(crls),
        ocsps=list(ocsps),
        allow_fetching=not offline,
        signature_validator=SIGNATURE_VALIDATOR,
        fetcher_backend=backend,
        # Evidence produced after the signing time still speaks for it (B-LT adds it later);
        # the cost is ignoring certificate holds, which the government CA does not use.
        revinfo_policy=CertRevTrustPolicy(
            _OFFLINE_POLICY if offline else _ONLINE_POLICY, retroactive_revinfo=True
        ),
    )
    try:
        await async_validate_path(context, path)
    except RevokedError as error:
        whose = subject if error.is_ee_cert else "a CA certificate in the chain"
        return RevocationOutcome(
            "revoked",
            f"{whose} was revoked on {error.revocation_dt.isoformat()}",
            error.revocation_dt,
        )
    except InsufficientRevinfoError as error:
        if offline:
            return RevocationOutcome(
                "not_checked", "embedded revocation data does not cover this certificate"
            )
        return RevocationOutcome("unknown", f"revocation status unavailable: {error.failure_msg}")
    except ValidationError as error:
        return RevocationOutcome("unknown", f"revocation check failed: {error.failure_msg}")
    finally:
        await context.aclose()  # type: ignore[no-untyped-call]
    return RevocationOutcome("good")


def embedded_data_covers(cert: x509.Certificate, crls: Sequence[Any], ocsps: Sequence[Any]) -> bool:
    """True when an embedded OCSP response names `cert` or an embedded CRL is from its issuer."""
    for response in ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                if single["cert_id"]["serial_number"].native == cert.serial_number:
                    return True
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    return any(crl_list.issuer == cert.issuer for crl_list in crls)
