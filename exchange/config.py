"""Service settings: defaults, then `CONGVAN_*` environment variables, then a fail-fast check.

Every `CONGVAN_*` variable is read here (README, Configuration, lists them); the signer library
reads none: the exchange hands it what it needs from these settings (whether this is development,
where the development PKI lies and where its trust services answer).

Nothing here connects to a database or reads a file at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from asn1crypto import x509

from exchange.errors import ConfigurationError
from signer.devpki import (
    CHECKOUT_PKI_DIR,
    DEV_CA_LABEL,
    DEV_ROOT_LABEL,
    DEV_TSA_URL,
    DevServices,
    dev_cert_path,
)
from signer.errors import SignerError
from signer.trust import load_certificates

DEVELOPMENT = "development"
PRODUCTION = "production"

# Documented in README: only ever valid in development mode.
DEV_SECRET_KEY = "congvan-dev-secret-not-for-production"
DEFAULT_DATA_DIR = "congvan-data"
DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    env: str = DEVELOPMENT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str = ""
    storage_dir: Path | None = None
    secret_key: str = DEV_SECRET_KEY
    trust_roots: tuple[Path, ...] = ()
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    tsa_url: str | None = None
    verify_offline: bool = False
    verify_timeout: float = 60.0
    job_max_attempts: int = 5
    job_lease_seconds: float = 300.0
    job_backoff_seconds: float = 5.0
    pkcs11_module: str | None = None  # for agency and official keys given as pkcs11: URIs
    dev_pki_dir: Path | None = None  # a copy of certs/dev, for an install without the checkout
    dev_services_url: str = ""  # where the development services answer, when not 127.0.0.1:8790

    @property
    def development(self) -> bool:
        return self.env == DEVELOPMENT

    @property
    def effective_dev_pki_dir(self) -> Path:
        """Where the development PKI lies: CONGVAN_DEV_PKI_DIR, else the checkout's certs/dev."""
        return self.dev_pki_dir or CHECKOUT_PKI_DIR

    @property
    def dev_services(self) -> DevServices:
        """Where the development services answer (CONGVAN_DEV_SERVICES_URL, checked when used).

        The library moves requests there in development only.
        """
        return DevServices(self.dev_services_url)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'congvan.sqlite3').resolve()}"

    @property
    def effective_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"

    @property
    def effective_tsa_url(self) -> str | None:
        if self.tsa_url:
            return self.tsa_url
        if self.development:
            return DEV_TSA_URL
        return None

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> Settings:
        """Refuse settings that must never reach production; return self when they are sound."""
        if self.env not in (DEVELOPMENT, PRODUCTION):
            raise ConfigurationError(
                f"CONGVAN_ENV phải là {DEVELOPMENT} hoặc {PRODUCTION}, không phải {self.env!r}"
            )
        scheme = self.effective_database_url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"CONGVAN_DATABASE_URL phải là PostgreSQL (postgresql+psycopg://…) hoặc SQLite, "
                f"không phải {scheme!r}"
            )
        if self.max_upload_bytes <= 0:
            raise ConfigurationError("CONGVAN_MAX_UPLOAD_BYTES phải là số dương")
        if self.development:
            return self
        if not self.secret_key or self.secret_key == DEV_SECRET_KEY:
            raise ConfigurationError(
                "CONGVAN_SECRET_KEY chưa đặt hoặc là khóa phát triển: không được dùng ở production"
            )
        if len(self.secret_key) < 32:
            raise ConfigurationError("CONGVAN_SECRET_KEY phải dài ít nhất 32 ký tự")
        if not self.trust_roots:
            raise ConfigurationError(
                "chế độ production cần CONGVAN_TRUST_ROOTS (chứng thư gốc tin cậy, PEM)"
            )
        self._refuse_development_roots()
        return self

    def _refuse_development_roots(self) -> None:
        """Refuse a trust root that is (a copy of) a development certificate or key.

        Compared by content, not by path: the SHA-256 of each configured certificate and of its
        public key against those of every certificate of the development hierarchy.
        """
        dev_certs, dev_keys = development_fingerprints(self.effective_dev_pki_dir)
        for path in self.trust_roots:
            try:
                certs = load_certificates(path)
            except SignerError as error:
                raise ConfigurationError(f"CONGVAN_TRUST_ROOTS: {error}") from None
            for cert in certs:
                if cert.sha256 in dev_certs or cert.public_key.sha256 in dev_keys:
                    raise ConfigurationError(
                        "CONGVAN_TRUST_ROOTS chứa chứng thư gốc phát triển: "
                        "không được dùng ở production"
                    )


def development_fingerprints(pki_dir: Path) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """SHA-256 of the certificates, and of their public keys, of the development hierarchy.

    Every certificate in `pki_dir`/certs that is the development root or CA or is issued by one
    of them (not the rogue-* ones, made to stand for another PKI under the same names).
    Empty when the development PKI is not there (an install without the checkout, and no
    CONGVAN_DEV_PKI_DIR): nothing to compare against.
    """
    anchors: list[x509.Certificate] = []
    for label in (DEV_ROOT_LABEL, DEV_CA_LABEL):
        try:
            anchors.extend(load_certificates(dev_cert_path(label, pki_dir=pki_dir)))
        except SignerError:
            continue
    # Issued by an anchor: its authority key identifier is the anchor's key identifier (names
    # prove nothing: the rogue root copies the development root's name).
    anchor_keys = {anchor.key_identifier for anchor in anchors if anchor.key_identifier}
    certs, keys = set(), set()
    for path in sorted((pki_dir / "certs").glob("*.pem")):
        try:
            loaded = load_certificates(path)
        except SignerError:
            continue
        for cert in loaded:
            if cert.key_identifier in anchor_keys or cert.authority_key_identifier in anchor_keys:
                certs.add(cert.sha256)
                keys.add(cert.public_key.sha256)
    return frozenset(certs), frozenset(keys)


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} phải là một số, không phải {raw!r}") from None


def debug_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """CONGVAN_DEBUG set to anything: the command line shows tracebacks and debug logs.

    Read on its own, as the command line needs it before (or without) the whole settings.
    """
    env = os.environ if environ is None else environ
    return bool(env.get("CONGVAN_DEBUG"))


def development_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """CONGVAN_ENV for the commands that sign and verify without the service's whole settings.

    True unless it says production (unset or "development" means development), as leniently as
    those commands always read it (case and spaces ignored).
    """
    env = os.environ if environ is None else environ
    value = env.get("CONGVAN_ENV", DEVELOPMENT).strip().lower()
    if value in ("", DEVELOPMENT):
        return True
    if value == PRODUCTION:
        return False
    raise ConfigurationError(
        f"CONGVAN_ENV phải là 'development' (phát triển) hoặc 'production' (vận hành), "
        f"không phải {value!r}"
    )


def file_settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of the commands that sign and verify files without the service.

    Only what the signer library needs: whether this is development (`development_from_env`),
    where the development PKI lies and where its trust services answer.
    """
    env = os.environ if environ is None else environ
    pki_dir = env.get("CONGVAN_DEV_PKI_DIR")
    return Settings(
        env=DEVELOPMENT if development_from_env(env) else PRODUCTION,
        dev_pki_dir=Path(pki_dir) if pki_dir else None,
        dev_services_url=env.get("CONGVAN_DEV_SERVICES_URL", ""),
    )


def remote_secret_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """CONGVAN_REMOTE_SECRET: seals the state `congvan remote prepare` writes, when set."""
    env = os.environ if environ is None else environ
    value = env.get("CONGVAN_REMOTE_SECRET")
    return value.encode("utf-8") if value else None


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `CONGVAN_*` variables (see README, Configuration)."""
    env = os.environ if environ is None else environ
    trust = tuple(
        Path(part) for part in env.get("CONGVAN_TRUST_ROOTS", "").split(os.pathsep) if part
    )
    storage = env.get("CONGVAN_STORAGE_DIR")
    pki_dir = env.get("CONGVAN_DEV_PKI_DIR")
    return Settings(
        env=env.get("CONGVAN_ENV", DEVELOPMENT),
        data_dir=Path(env.get("CONGVAN_DATA_DIR", DEFAULT_DATA_DIR)),
        database_url=env.get("CONGVAN_DATABASE_URL", ""),
        storage_dir=Path(storage) if storage else None,
        secret_key=env.get("CONGVAN_SECRET_KEY", DEV_SECRET_KEY),
        trust_roots=trust,
        max_upload_bytes=int(_number(env, "CONGVAN_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD)),
        tsa_url=env.get("CONGVAN_TSA_URL") or None,
        verify_offline=_flag(env.get("CONGVAN_VERIFY_OFFLINE", "")),
        verify_timeout=_number(env, "CONGVAN_VERIFY_TIMEOUT", 60.0),
        job_max_attempts=int(_number(env, "CONGVAN_JOB_MAX_ATTEMPTS", 5)),
        job_lease_seconds=_number(env, "CONGVAN_JOB_LEASE_SECONDS", 300.0),
        job_backoff_seconds=_number(env, "CONGVAN_JOB_BACKOFF_SECONDS", 5.0),
        pkcs11_module=env.get("CONGVAN_PKCS11_MODULE"),
        dev_pki_dir=Path(pki_dir) if pki_dir else None,
        dev_services_url=env.get("CONGVAN_DEV_SERVICES_URL", ""),
    )
