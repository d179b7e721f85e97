"""Locations and fixed values of the development PKI in certs/dev (DEVELOPMENT ONLY).

Two environment variables move it, both read on every call, never at import: CONGVAN_DEV_PKI_DIR
(where the PKI's files lie, for an install without the checkout) and CONGVAN_DEV_SERVICES_URL
(where its trust services answer). They are the library's own settings, documented in the README
beside the service's: the library is used without the exchange.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from signer.errors import SignerError

# The checkout's certs/dev, unless CONGVAN_DEV_PKI_DIR points at a copy (dev_pki_dir).
CHECKOUT_PKI_DIR = Path(__file__).resolve().parent.parent / "certs" / "dev"
DEV_PKI_DIR_ENV = "CONGVAN_DEV_PKI_DIR"
DEV_PASSPHRASE = "congvan-dev"
DEV_HOST = "127.0.0.1"
DEV_PORT = 8790
# The built-in address, fixed because the certificates embed the OCSP and CRL URLs below.
DEV_SERVICES_URL = f"http://{DEV_HOST}:{DEV_PORT}"
DEV_ARCH = "congvan-dev"
DEV_TSA_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/tsa/tsa"
DEV_OCSP_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/ocsp/ocsp"
DEV_CRL_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/crls/ca/latest.crl"
DEV_ROOT_CRL_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/crls/root/latest.crl"
# Where the development services actually answer when not at the built-in address (another run
# holds port 8790, parallel test runs): e.g. http://127.0.0.1:41234. Development mode only.
DEV_SERVICES_ENV = "CONGVAN_DEV_SERVICES_URL"
DEV_ROOT_LABEL = "vn-dev-root"
DEV_CA_LABEL = "vn-dev-ca"
DEV_CONFIG_FILE = "certomancer.yml"


def dev_pki_dir() -> Path:
    """Where the development PKI lies: CONGVAN_DEV_PKI_DIR, else the checkout's certs/dev."""
    return Path(os.environ.get(DEV_PKI_DIR_ENV) or CHECKOUT_PKI_DIR)


def dev_cert_path(label: str) -> Path:
    """Path of the PEM certificate with this label."""
    return dev_pki_dir() / "certs" / f"{label}.cert.pem"


def dev_key_path(label: str) -> Path:
    """Path of the unencrypted PEM private key with this label."""
    return dev_pki_dir() / "keys" / f"{label}.key.pem"


def dev_p12_path(label: str) -> Path:
    """Path of the PKCS#12 file (key, certificate, chain) with this label."""
    return dev_pki_dir() / "p12" / f"{label}.p12"


def dev_root_path() -> Path:
    """Path of the development root certificate, the only development trust anchor."""
    return dev_cert_path(DEV_ROOT_LABEL)


def dev_ca_path() -> Path:
    """Path of the development intermediate CA certificate."""
    return dev_cert_path(DEV_CA_LABEL)


def dev_crl_path(label: str = DEV_CA_LABEL) -> Path:
    """Path of the committed DER CRL issued by this CA label."""
    return dev_pki_dir() / "crl" / f"{label}.crl"


def dev_config_path() -> Path:
    """Path of the certomancer configuration describing the development PKI."""
    return dev_pki_dir() / DEV_CONFIG_FILE


class DevServicesConfigError(SignerError):
    """CONGVAN_DEV_SERVICES_URL is not a plain http://host:port address."""


def dev_services_url() -> str:
    """Base URL of the running development services: CONGVAN_DEV_SERVICES_URL, else built-in.

    Read on every call, so a process (or a test run) that starts its own services on a free port
    can set the variable before it signs or verifies.
    """
    value = os.environ.get(DEV_SERVICES_ENV, "").strip()
    if not value:
        return DEV_SERVICES_URL
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or parts.path.strip("/") or port is None:
        raise DevServicesConfigError(
            f"{DEV_SERVICES_ENV}={value!r} không hợp lệ: cần dạng http://127.0.0.1:CỔNG"
        )
    return f"http://{parts.netloc}"


def dev_tsa_url() -> str:
    """URL of the development timestamping authority where it runs now."""
    return f"{dev_services_url()}/{DEV_ARCH}/tsa/tsa"


def dev_health_url(base: str | None = None) -> str:
    """A URL that answers 200 only when the development services run at `base` (default: now)."""
    return f"{base or dev_services_url()}/{DEV_ARCH}/crls/ca/latest.crl"


def relocated_dev_url(url: str) -> str:
    """`url` moved to where the development services run, when it names the built-in address.

    Certificates of the development PKI name http://127.0.0.1:8790/...; when the services run
    elsewhere (CONGVAN_DEV_SERVICES_URL), their OCSP and CRL requests go there instead. Any other
    URL is returned unchanged. Callers use this in development mode only.
    """
    prefix = DEV_SERVICES_URL + "/"
    if not url.startswith(prefix):
        return url
    return dev_services_url() + url[len(DEV_SERVICES_URL) :]
