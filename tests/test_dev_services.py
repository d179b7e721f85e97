"""Where the development trust services are: CONGVAN_DEV_SERVICES_URL, and when they are down.

The exchange reads the variable into its settings (Settings.dev_services); the library is handed
the resulting DevServices. "Nothing listens" is a free port named by the variable: port 8790 may
be held by another run.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import signer.devpki
from exchange import dev_services as services_module
from exchange.config import settings_from_env
from exchange.dev_services import running_dev_services, services_answer
from signer.credentials import load_credential
from signer.devpki import (
    DEV_CRL_URL,
    DEV_PASSPHRASE,
    DEV_SERVICES_ENV,
    DEV_SERVICES_URL,
    DEV_TSA_URL,
    DevServices,
    DevServicesConfigError,
    dev_p12_path,
)
from signer.errors import TrustServiceError
from signer.fetching import service_url
from signer.signing import SignOptions, sign_pdf
from signer.verification import verify_pdf
from tests.support.cli import run_cli
from tests.support.devservices import dev_sign_options, development_trust
from tests.support.processes import free_port


@pytest.fixture
def nowhere() -> str:
    """A development services URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def congvan_using(*args: str | Path, services: str) -> subprocess.CompletedProcess[str]:
    """`congvan ARGS` sent to the development services at `services`."""
    return run_cli(*args, env={DEV_SERVICES_ENV: services, "CONGVAN_TEST_PIN": DEV_PASSPHRASE})


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- the variable -----------------------------------------------------------------------------


def dev_services_from(variable: str | None) -> DevServices:
    """What the exchange's settings hand the library for this CONGVAN_DEV_SERVICES_URL."""
    return settings_from_env({} if variable is None else {DEV_SERVICES_ENV: variable}).dev_services


def test_built_in_urls_move_to_the_configured_services() -> None:
    built_in = dev_services_from(None)
    assert built_in.url == DEV_SERVICES_URL
    assert built_in.relocate(DEV_CRL_URL) == DEV_CRL_URL
    moved = dev_services_from("http://127.0.0.1:41234/")
    assert moved.relocate(DEV_CRL_URL) == "http://127.0.0.1:41234/congvan-dev/crls/ca/latest.crl"
    assert service_url(DEV_TSA_URL, development=True, dev_services=moved).startswith(
        "http://127.0.0.1:41234/"
    )
    # Only the built-in address moves, and only in development.
    assert moved.relocate("http://ca.example.vn/ocsp") == "http://ca.example.vn/ocsp"
    assert moved.relocate("http://127.0.0.1:87900/x") == "http://127.0.0.1:87900/x"
    assert service_url(DEV_TSA_URL, development=False, dev_services=moved) == DEV_TSA_URL
    for wrong in ("127.0.0.1:41234", "https://127.0.0.1:1/x", "http://127.0.0.1", "ftp://a:1"):
        services = dev_services_from(wrong)  # checked when used, not when read
        with pytest.raises(DevServicesConfigError, match=DEV_SERVICES_ENV):
            services.url  # noqa: B018


def test_verifier_asks_the_configured_services(
    dev: DevServices, nowhere: str, sample_pdf: Path, tmp_path: Path
) -> None:
    """The certificates name 8790; online, their OCSP and CRL requests go where it is told."""
    signed = tmp_path / "signed.pdf"
    credential = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    sign_pdf(sample_pdf, signed, credential, SignOptions(level="b-b"))
    trust = development_trust(dev)
    assert verify_pdf(signed, trust=trust).signatures[0].revocation == "good"
    trust = development_trust(dev_services_from(nowhere))
    report = verify_pdf(signed, trust=trust)
    assert report.verdict == "indeterminate", report.to_dict()
    assert report.signatures[0].revocation == "unknown"


def test_signer_asks_the_configured_tsa(nowhere: str, sample_pdf: Path, tmp_path: Path) -> None:
    options = dev_sign_options(dev_services_from(nowhere), level="b-t", tsa_url=DEV_TSA_URL)
    credential = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    with pytest.raises(TrustServiceError, match=nowhere):
        sign_pdf(sample_pdf, tmp_path / "out.pdf", credential, options)
    assert not (tmp_path / "out.pdf").exists()


# --- the command line when the services are down ------------------------------------------------


@pytest.mark.parametrize("command", ["sign", "issue"])
def test_signing_without_the_services_says_how_to_start_them(
    command: str, nowhere: str, sample_pdf: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.pdf"
    credential = dev_p12_path("agency-tpd")
    args = [command, sample_pdf, "-o", out, "--credential", credential, "--pin-env"]
    result = congvan_using(*args, "CONGVAN_TEST_PIN", services=nowhere)
    assert result.returncode == 1
    line = one_line(result)
    assert "congvan dev-pki serve" in line and nowhere in line and "--level b-b" in line
    assert not out.exists()


def test_b_b_needs_no_services(nowhere: str, sample_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    args = ["sign", sample_pdf, "-o", out, "--credential", dev_p12_path("agency-tpd")]
    result = congvan_using(
        *args, "--pin-env", "CONGVAN_TEST_PIN", "--level", "b-b", services=nowhere
    )
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_help_says_what_happens_without_the_services() -> None:
    result = congvan_using("sign", "--help", services=DEV_SERVICES_URL)
    assert "congvan dev-pki serve" in result.stdout and "b-b" in result.stdout


def test_a_malformed_variable_is_one_clear_line(sample_pdf: Path, tmp_path: Path) -> None:
    args = [
        "sign",
        sample_pdf,
        "-o",
        tmp_path / "o.pdf",
        "--credential",
        dev_p12_path("agency-tpd"),
    ]
    result = congvan_using(*args, "--pin-env", "CONGVAN_TEST_PIN", services="localhost-8790")
    assert result.returncode == 1
    assert DEV_SERVICES_ENV in one_line(result)


# --- congvan serve and congvan demo start their own -----------------------------------------------


@pytest.fixture
def built_in_port_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A stand-in for 8790 held by a program that is not the development services."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = int(holder.getsockname()[1])
        monkeypatch.delenv(DEV_SERVICES_ENV, raising=False)
        monkeypatch.setattr(signer.devpki, "DEV_SERVICES_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setattr(services_module, "DEV_PORT", port)
        yield port


def test_services_move_to_a_free_port_when_the_built_in_one_is_held(
    built_in_port_held: int,
) -> None:
    with running_dev_services(DevServices()) as base:
        assert base.startswith("http://127.0.0.1:") and not base.endswith(f":{built_in_port_held}")
        assert os.environ[DEV_SERVICES_ENV] == base  # what the processes it starts follow
        assert services_answer(base)
    assert DEV_SERVICES_ENV not in os.environ
    assert not services_answer(base)  # stopped, and only ours


def test_running_services_are_used_not_started(dev_services: str, dev: DevServices) -> None:
    with running_dev_services(dev) as base:
        assert base == dev_services
