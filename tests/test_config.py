"""Settings: environment variables, and the fail-fast check that guards production."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config import DEV_SECRET_KEY, settings_from_env
from exchange.errors import ConfigurationError
from signer.devpki import dev_root_path

GOOD_SECRET = "s" * 40


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    roots = tmp_path / "roots.pem"
    roots.write_text("placeholder: the check reads paths, the runtime reads the certificates")
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
