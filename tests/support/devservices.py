"""The run's development services (tests/conftest.py:dev_services) for code congvan does not drive.

congvan itself sends requests for the built-in address http://127.0.0.1:8790, which the
development certificates name, to wherever CONGVAN_DEV_SERVICES_URL says (signer/fetching.py).
Tests that call pyHanko directly use these helpers to do the same. (poppler's pdfsig cannot be
redirected: it always asks the OCSP responder at 8790, see tests/conftest.py:nss_db.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asn1crypto import x509
from pyhanko_certvalidator import ValidationContext

from signer.devpki import dev_tsa_url
from signer.fetching import fetcher_backend

__all__ = ["dev_tsa_url", "fetching_context"]


def fetching_context(roots: Sequence[x509.Certificate], **options: Any) -> ValidationContext:
    """A pyHanko validation context that fetches OCSP and CRLs from the run's dev services."""
    return ValidationContext(
        trust_roots=list(roots),
        allow_fetching=True,
        fetcher_backend=fetcher_backend(development=True),
        **options,
    )
