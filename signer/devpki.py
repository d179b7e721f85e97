"""Locations and fixed values of the development PKI in certs/dev (DEVELOPMENT ONLY).

The library reads no environment variable: callers say where the PKI's files lie (`pki_dir`, the
checkout's certs/dev by default) and where its trust services answer (a `DevServices`, the built-in
address by default). The exchange builds both from its Settings (CONGVAN_DEV_PKI_DIR,
CONGVAN_DEV_SERVICES_URL; exchange/config.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from signer.errors import SignerError

# The checkout's certs/dev: the default `pki_dir` (Settings.dev_pki_dir may name a copy).
CHECKOUT_PKI_DIR = Path(__file__).resolve().parent.parent / "certs" / "dev"
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
# The setting that says where the development services answer when not at the built-in address
# (another run holds port 8790, parallel test runs), named in messages; read by exchange/config.py.
DEV_SERVICES_ENV = "CONGVAN_DEV_SERVICES_URL"
DEV_ROOT_LABEL = "vn-dev-root"
DEV_CA_LABEL = "vn-dev-ca"
DEV_CONFIG_FILE = "certomancer.yml"


def dev_cert_path(label: str, *, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the PEM certificate with this label."""
    return pki_dir / "certs" / f"{label}.cert.pem"


def dev_key_path(label: str, *, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the unencrypted PEM private key with this label."""
    return pki_dir / "keys" / f"{label}.key.pem"


def dev_p12_path(label: str, *, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the PKCS#12 file (key, certificate, chain) with this label."""
    return pki_dir / "p12" / f"{label}.p12"


def dev_root_path(*, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the development root certificate, the only development trust anchor."""
    return dev_cert_path(DEV_ROOT_LABEL, pki_dir=pki_dir)


def dev_ca_path(*, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the development intermediate CA certificate."""
    return dev_cert_path(DEV_CA_LABEL, pki_dir=pki_dir)


def dev_crl_path(label: str = DEV_CA_LABEL, *, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the committed DER CRL issued by this CA label."""
    return pki_dir / "crl" / f"{label}.crl"


def dev_config_path(*, pki_dir: Path = CHECKOUT_PKI_DIR) -> Path:
    """Path of the certomancer configuration describing the development PKI."""
    return pki_dir / DEV_CONFIG_FILE


class DevServicesConfigError(SignerError):
    """CONGVAN_DEV_SERVICES_URL is not a plain http://host:port address."""


def parse_dev_services_url(value: str) -> str:
    """The base URL `value` names (a plain http://host:port), or the built-in one when empty."""
    value = value.strip()
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


@dataclass(frozen=True)
class DevServices:
    """Where the development trust services answer (DEVELOPMENT ONLY).

    `address` as configured (CONGVAN_DEV_SERVICES_URL); empty: the built-in address. It is
    checked when used (`url`), so a value that development never uses cannot stop production.
    """

    address: str = ""

    @property
    def url(self) -> str:
        """Their base URL; DevServicesConfigError when `address` is not a plain http://host:port."""
        return parse_dev_services_url(self.address)

    @property
    def moved(self) -> bool:
        """True when they answer somewhere other than the address the certificates name."""
        return self.url != DEV_SERVICES_URL

    @property
    def tsa_url(self) -> str:
        """URL of the development timestamping authority where it runs."""
        return f"{self.url}/{DEV_ARCH}/tsa/tsa"

    @property
    def health_url(self) -> str:
        """A URL that answers 200 only when the development services run here."""
        return dev_health_url(self.url)

    def relocate(self, url: str) -> str:
        """`url` moved here, when it names the built-in address.

        Certificates of the development PKI name http://127.0.0.1:8790/...; when the services run
        elsewhere, their OCSP and CRL requests go here instead. Any other URL is returned
        unchanged. Callers use this in development mode only.
        """
        prefix = DEV_SERVICES_URL + "/"
        if not url.startswith(prefix):
            return url
        return self.url + url[len(DEV_SERVICES_URL) :]


BUILT_IN_DEV_SERVICES = DevServices()


def dev_health_url(base: str) -> str:
    """A URL that answers 200 only when the development services run at `base`."""
    return f"{base}/{DEV_ARCH}/crls/ca/latest.crl"
