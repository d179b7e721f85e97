"""Trust roots for verification: configured PEM files, plus the development root in development."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from asn1crypto import pem, x509

from signer.devpki import BUILT_IN_DEV_SERVICES, CHECKOUT_PKI_DIR, DevServices, dev_root_path
from signer.errors import SignerError
from signer.messages import file_error_message


class TrustConfigurationError(SignerError):
    """A trust root file cannot be read or holds no usable certificate."""


@dataclass(frozen=True)
class TrustSettings:
    """The certificates a verifier accepts as trust anchors, and whether this is development.

    In development, requests to the built-in development address go to `dev_services`.
    """

    roots: tuple[x509.Certificate, ...]
    development: bool
    dev_services: DevServices = BUILT_IN_DEV_SERVICES

    @property
    def fingerprint(self) -> tuple[bytes, ...]:
        """SHA-256 of each root, a stable key for caching validation state across calls."""
        return tuple(root.sha256 for root in self.roots)


def load_certificates(path: str | PathLike[str]) -> tuple[x509.Certificate, ...]:
    """Read every certificate in a PEM (or single DER) file."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as error:
        raise TrustConfigurationError(
            file_error_message(error, f"tệp chứng thư gốc tin cậy {os.fspath(file)}")
        ) from error
    try:
        if pem.detect(data):
            certs = tuple(
                x509.Certificate.load(der)
                for kind, _headers, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"
            )
        else:
            certs = (x509.Certificate.load(data),)
        # Force a full parse now so a corrupt file fails here, not in the middle of a verification.
        for cert in certs:
            _ = cert.native
    except (ValueError, TypeError) as error:
        raise TrustConfigurationError(
            f"tệp chứng thư gốc tin cậy {file} không phải chứng thư PEM hoặc DER hợp lệ "
            f"(chi tiết: {error})"
        ) from error
    if not certs:
        raise TrustConfigurationError(f"tệp chứng thư gốc tin cậy {file} không chứa chứng thư nào")
    return certs


def load_trust(
    extra_pem_paths: Sequence[str | PathLike[str]] = (),
    *,
    development: bool = False,
    dev_pki_dir: Path = CHECKOUT_PKI_DIR,
    dev_services: DevServices = BUILT_IN_DEV_SERVICES,
) -> TrustSettings:
    """Trust roots from the given PEM files, plus the development root in development mode.

    Production unless `development` says otherwise: no development root, no relocated requests.
    """
    roots: list[x509.Certificate] = []
    if development:
        roots.extend(load_certificates(dev_root_path(pki_dir=dev_pki_dir)))
    for path in extra_pem_paths:
        roots.extend(load_certificates(path))
    unique = {root.sha256: root for root in roots}
    return TrustSettings(
        roots=tuple(unique.values()), development=development, dev_services=dev_services
    )
