"""Settings: environment variables, and the fail-fast check that guards production."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchange.config import DEV_SECRET_KEY, settings_from_env
from exchange.errors import ConfigurationError
from signer.devpki import dev_cert_path, dev_root_path

GOOD_SECRET = "s" * 40
ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"CONGVAN_[A-Z0-9_]+")


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(dev_cert_path("rogue-root").read_bytes())  # not of the development PKI
    return {
        "CONGVAN_ENV": "production",
        "CONGVAN_SECRET_KEY": GOOD_SECRET,
        "CONGVAN_TRUST_ROOTS": str(roots),
        **extra,
    }


def test_development_defaults() -> None:
    settings = settings_from_env({}).check()
    assert settings.development and settings.secret_key == DEV_SECRET_KEY
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("congvan-data/congvan.sqlite3")
    assert settings.effective_tsa_url is not None  # the development TSA


def test_a_sound_production_configuration_passes(tmp_path: Path) -> None:
    settings = settings_from_env(_production(tmp_path)).check()
    assert not settings.development
    assert settings.effective_tsa_url is None  # never the development TSA outside development


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"CONGVAN_SECRET_KEY": DEV_SECRET_KEY}, "khóa phát triển"),
        ({"CONGVAN_SECRET_KEY": ""}, "chưa đặt"),
        ({"CONGVAN_SECRET_KEY": "short"}, "32 ký tự"),
        ({"CONGVAN_TRUST_ROOTS": ""}, "CONGVAN_TRUST_ROOTS"),
        ({"CONGVAN_TRUST_ROOTS": str(dev_root_path())}, "gốc phát triển"),
        ({"CONGVAN_ENV": "staging"}, "CONGVAN_ENV"),
        ({"CONGVAN_MAX_UPLOAD_BYTES": "lots"}, "phải là một số"),
        ({"CONGVAN_DATABASE_URL": "mysql://congvan@db/congvan"}, "PostgreSQL"),
    ],
)
def test_production_refuses_development_secrets_and_nonsense(
    tmp_path: Path, change: dict[str, str], words: str
) -> None:
    environ = {**_production(tmp_path), **change}
    with pytest.raises(ConfigurationError, match=words):
        settings_from_env(environ).check()


DEV_ROOT_REFUSED = "CONGVAN_TRUST_ROOTS chứa chứng thư gốc phát triển"


@pytest.mark.parametrize("label", ["vn-dev-root", "vn-dev-ca", "agency-tpd"])
def test_a_copy_of_a_development_certificate_is_refused_as_the_original(
    tmp_path: Path, label: str
) -> None:
    copy = tmp_path / "elsewhere" / "goc-tin-cay.pem"
    copy.parent.mkdir()
    # In a bundle behind a foreign root, and as DER: the content decides, not the path or form.
    copy.write_bytes(dev_cert_path("rogue-root").read_bytes() + dev_cert_path(label).read_bytes())
    environ = _production(tmp_path, CONGVAN_TRUST_ROOTS=str(copy))
    with pytest.raises(ConfigurationError, match=DEV_ROOT_REFUSED):
        settings_from_env(environ).check()
    from asn1crypto import pem

    der = tmp_path / "goc.cer"
    der.write_bytes(pem.unarmor(dev_cert_path(label).read_bytes())[2])
    with pytest.raises(ConfigurationError, match=DEV_ROOT_REFUSED):
        settings_from_env({**environ, "CONGVAN_TRUST_ROOTS": str(der)}).check()


def test_a_new_certificate_for_the_development_root_key_is_refused(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(
        (ROOT / "certs/dev/keys/vn-dev-root.key.pem").read_bytes(), password=None
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Goc moi, khoa cu")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    roots = tmp_path / "moi.pem"
    roots.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigurationError, match=DEV_ROOT_REFUSED):
        settings_from_env(_production(tmp_path, CONGVAN_TRUST_ROOTS=str(roots))).check()


def test_an_unreadable_trust_root_is_refused_at_the_check(tmp_path: Path) -> None:
    junk = tmp_path / "rac.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="CONGVAN_TRUST_ROOTS"):
        settings_from_env(_production(tmp_path, CONGVAN_TRUST_ROOTS=str(junk))).check()


def _configuration_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration and production", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| `CONGVAN_"))


def test_every_variable_the_code_names_is_in_the_readme_table() -> None:
    named = {
        name
        for package in ("signer", "exchange")
        for path in (ROOT / package).rglob("*.py")
        for name in VARIABLE.findall(path.read_text(encoding="utf-8"))
    }
    assert named == set(VARIABLE.findall(_configuration_table()))


def test_the_service_reads_its_variables_in_config_only() -> None:
    """Only exchange/config.py reads CONGVAN_* variables; the signer library reads none.

    The library is handed what it needs (development, the development PKI folder and services)
    by its caller, the exchange passing them from its Settings.
    """
    # os.environ.get("CONGVAN_…"), os.getenv(…), os.environ[…], or config.py's env.get(…)
    reading = re.compile(r"\b(environ\.get\(|env\.get\(|getenv\(|environ\[)\s*[\"']CONGVAN_")
    readers = {
        str(path.relative_to(ROOT))
        for package in ("exchange", "signer")
        for path in (ROOT / package).rglob("*.py")
        if reading.search(path.read_text(encoding="utf-8"))
    }
    assert readers == {"exchange/config.py"}
    # Nor any other variable, nor through a name for one: the library does not touch os.environ.
    environment = re.compile(r"\bos\.environ\b|\bgetenv\(|\bfrom os import\b[^\n]*\benviron\b")
    touching = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "signer").rglob("*.py")
        if environment.search(path.read_text(encoding="utf-8"))
    }
    assert touching == set()
