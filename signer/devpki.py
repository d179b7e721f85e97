"""Locations and fixed values of the development PKI in certs/dev (DEVELOPMENT ONLY)."""

from __future__ import annotations

import os
from pathlib import Path

# The checkout's certs/dev; CONGVAN_DEV_PKI_DIR lets a non-editable install point at a copy.
_CHECKOUT_PKI_DIR = Path(__file__).resolve().parent.parent / "certs" / "dev"
DEV_PKI_DIR: Path = Path(os.environ.get("CONGVAN_DEV_PKI_DIR") or _CHECKOUT_PKI_DIR)
DEV_PASSPHRASE = "congvan-dev"
DEV_HOST = "127.0.0.1"
DEV_PORT = 8790
# Fixed because the certificates embed these URLs.
DEV_SERVICES_URL = f"http://{DEV_HOST}:{DEV_PORT}"
DEV_ARCH = "congvan-dev"
DEV_TSA_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/tsa/tsa"
DEV_OCSP_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/ocsp/ocsp"
DEV_CRL_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/crls/ca/latest.crl"
DEV_ROOT_CRL_URL = f"{DEV_SERVICES_URL}/{DEV_ARCH}/crls/root/latest.crl"
DEV_ROOT_LABEL = "vn-dev-root"
DEV_CA_LABEL = "vn-dev-ca"
DEV_CONFIG_FILE = "certomancer.yml"


def dev_cert_path(label: str) -> Path:
    """Path of the PEM certificate with this label."""
    return DEV_PKI_DIR / "certs" / f"{label}.cert.pem"


def dev_key_path(label: str) -> Path:
    """Path of the unencrypted PEM private key with this label."""
    return DEV_PKI_DIR / "keys" / f"{label}.key.pem"


def dev_p12_path(label: str) -> Path:
    """Path of the PKCS#12 file (key, certificate, chain) with this label."""
    return DEV_PKI_DIR / "p12" / f"{label}.p12"


def dev_root_path() -> Path:
    """Path of the development root certificate, the only development trust anchor."""
    return dev_cert_path(DEV_ROOT_LABEL)


def dev_ca_path() -> Path:
    """Path of the development intermediate CA certificate."""
    return dev_cert_path(DEV_CA_LABEL)


def dev_crl_path(label: str = DEV_CA_LABEL) -> Path:
    """Path of the committed DER CRL issued by this CA label."""
    return DEV_PKI_DIR / "crl" / f"{label}.crl"


def dev_config_path() -> Path:
    """Path of the certomancer configuration describing the development PKI."""
    return DEV_PKI_DIR / DEV_CONFIG_FILE
