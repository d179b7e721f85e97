"""The run's development services (tests/conftest.py:dev_services), as the library is told of them.

The signer library reads no environment variable: in development its caller says so
(`development=True`) and says where the development services answer (a `DevServices`,
signer/devpki.py); congvan then sends its requests for the built-in address
http://127.0.0.1:8790, which the development certificates name, there (signer/fetching.py).
Tests that call the library directly above B-B with the development TSA, verify online, or call
pyHanko directly use these helpers with the `dev` fixture (tests/conftest.py), so they reach the
run's services wherever they run. (poppler's pdfsig cannot be redirected: it always asks the OCSP
responder at 8790, see tests/conftest.py:nss_db.)
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

from asn1crypto import x509
from pyhanko_certvalidator import ValidationContext

from signer.appearance import Appearance, Placement, dev_image_path, load_image
from signer.devpki import DEV_TSA_URL, DevServices
from signer.fetching import fetcher_backend
from signer.signing import SignOptions
from signer.trust import TrustSettings, load_trust

__all__ = ["dev_sign_options", "development_trust", "fetching_context"]


def dev_sign_options(dev: DevServices, **options: Any) -> SignOptions:
    """`SignOptions(**options)` for development, its TSA and revocation requests sent to `dev`."""
    return SignOptions(development=True, dev_services=dev, **options)


def development_trust(
    dev: DevServices, extra_pem_paths: Sequence[str | PathLike[str]] = ()
) -> TrustSettings:
    """The development root (and `extra_pem_paths`) trusted, online checks sent to `dev`."""
    return load_trust(extra_pem_paths, development=True, dev_services=dev)


def fetching_context(
    roots: Sequence[x509.Certificate], dev: DevServices, **options: Any
) -> ValidationContext:
    """A pyHanko validation context that fetches OCSP and CRLs from the run's dev services."""
    return ValidationContext(
        trust_roots=list(roots),
        allow_fetching=True,
        fetcher_backend=fetcher_backend(development=True, dev_services=dev),
        **options,
    )


def official_options(
    dev: DevServices, label: str = "official-tpd-phochutich", fallback: Placement | None = None
) -> SignOptions:
    """The official's visible B-T signature of the issue workflow, with this run's services."""
    image = load_image(dev_image_path(label))
    return dev_sign_options(
        dev,
        level="b-t",
        tsa_url=DEV_TSA_URL,
        field_name="ChuKyLanhDao",
        appearance=Appearance("official", image=image, fallback=fallback),
    )


def agency_options(
    dev: DevServices, label: str = "agency-tpd", fallback: Placement | None = None
) -> SignOptions:
    """The agency's visible B-LT signature (the seal) given at issue, with this run's services."""
    return dev_sign_options(
        dev,
        level="b-lt",
        tsa_url=DEV_TSA_URL,
        trust_roots=load_trust(development=True).roots,
        field_name="ChuKyCoQuan",
        appearance=Appearance("agency", image=load_image(dev_image_path(label)), fallback=fallback),
    )
