"""Signing with keys inside a real PKCS#11 module (SoftHSM2), named by RFC 7512 URIs."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from signer.credentials import Credential, load_credential
from signer.devpki import dev_key_path
from signer.errors import CredentialError, WrongPinError
from signer.signing import sign_pdf
from tests.support.softhsm import (
    EC_LABEL,
    FRESH_TOKEN,
    OTHER_TOKEN,
    ROOT,
    RSA_LABEL,
    TOKEN,
    USER_PIN,
    token_uri,
)


@pytest.fixture
def assert_signed_by(dev_root: x509.Certificate) -> Callable[[bytes, Credential], None]:
    """Check that a PDF's only signature is intact, trusted and made by ``credential``."""
    context = ValidationContext(trust_roots=[dev_root])

    def check(data: bytes, credential: Credential) -> None:
        signatures = PdfFileReader(io.BytesIO(data)).embedded_signatures
        assert len(signatures) == 1
        status = validate_pdf_signature(signatures[0], context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.signing_cert.dump() == credential.certificate.dump()

    return check


@pytest.mark.parametrize("label", [RSA_LABEL, EC_LABEL])
def test_pkcs11_credential_signs_and_verifies(
    softhsm: str,
    dev_services: str,
    sample_pdf: Path,
    tmp_path: Path,
    nss_db: str,
    assert_signed_by: Callable[[bytes, Credential], None],
    label: str,
) -> None:
    credential = load_credential(token_uri(label), USER_PIN, pkcs11_module=softhsm)
    assert credential.organization_identifier == "DEV.TPD.000"
    assert credential.chain[0].subject == credential.certificate.issuer
    out = tmp_path / "signed.pdf"
    sign_pdf(sample_pdf, out, credential)
    sign_pdf(sample_pdf, out, credential)  # the token session is reused

    assert_signed_by(out.read_bytes(), credential)
    signature = PdfFileReader(io.BytesIO(out.read_bytes())).embedded_signatures[0]
    algorithm = signature.signer_info["signature_algorithm"]["algorithm"].native
    assert algorithm == ("rsassa_pss" if label == RSA_LABEL else "sha256_ecdsa")
    # pdfsig checks revocation over HTTP: the dev services must answer.
    run = subprocess.run(["pdfsig", "-nssdir", nss_db, str(out)], capture_output=True, text=True)
    assert "Signature is Valid." in run.stdout and "Certificate is Trusted." in run.stdout


def _sign_concurrently(
    pdf: bytes, credentials: list[Credential], threads: int, per_thread: int
) -> list[tuple[bytes, Credential]]:
    """Sign from ``threads`` threads released together; thread i uses credentials[i % n]."""
    start_line = threading.Barrier(threads)

    def work(index: int) -> list[tuple[bytes, Credential]]:
        credential = credentials[index % len(credentials)]
        start_line.wait()
        done = []
        for _ in range(per_thread):
            out = io.BytesIO()
            sign_pdf(io.BytesIO(pdf), out, credential)
            done.append((out.getvalue(), credential))
        return done

    with ThreadPoolExecutor(threads) as pool:
        return [item for batch in pool.map(work, range(threads)) for item in batch]


@pytest.mark.parametrize("label", [RSA_LABEL, EC_LABEL])
def test_eight_threads_share_one_credential(
    softhsm: str,
    sample_pdf: Path,
    assert_signed_by: Callable[[bytes, Credential], None],
    label: str,
) -> None:
    credential = load_credential(token_uri(label), USER_PIN, pkcs11_module=softhsm)
    results = _sign_concurrently(sample_pdf.read_bytes(), [credential], threads=8, per_thread=4)
    assert len(results) == 32
    for data, used in results:
        assert_signed_by(data, used)


def test_two_credentials_on_one_token_sign_concurrently(
    softhsm: str, sample_pdf: Path, assert_signed_by: Callable[[bytes, Credential], None]
) -> None:
    # Loaded at the same time too: the token is logged in to once, not twice.
    with ThreadPoolExecutor(2) as pool:
        loaded = pool.map(
            lambda label: load_credential(token_uri(label), USER_PIN, pkcs11_module=softhsm),
            [RSA_LABEL, EC_LABEL],
        )
        rsa, ec = list(loaded)
    assert rsa.certificate.public_key.algorithm == "rsa"
    assert ec.certificate.public_key.algorithm == "ec"
    results = _sign_concurrently(sample_pdf.read_bytes(), [rsa, ec], threads=8, per_thread=3)
    assert {used.certificate.public_key.algorithm for _, used in results} == {"rsa", "ec"}
    for data, used in results:
        assert_signed_by(data, used)


def test_two_tokens_of_one_module_sign_concurrently(
    softhsm: str, sample_pdf: Path, assert_signed_by: Callable[[bytes, Credential], None]
) -> None:
    """Guards the module lock: SoftHSM2, initialised without locking, fails calls that overlap."""
    credentials = [
        load_credential(token_uri(label, token), USER_PIN, pkcs11_module=softhsm)
        for token in (TOKEN, OTHER_TOKEN)
        for label in (RSA_LABEL, EC_LABEL)
    ]
    results = _sign_concurrently(sample_pdf.read_bytes(), credentials, threads=8, per_thread=4)
    assert len(results) == 32
    for data, used in results:
        assert_signed_by(data, used)
    # Token calls alone, back to back, overlap far more often than within whole PDF signatures.
    # Without the lock this hung SoftHSM2 or failed with CKR_GENERAL_ERROR in a few hundred calls.
    signers = [c.signer for c in credentials]
    failures: list[BaseException] = []

    def hammer(index: int) -> None:
        try:
            for _ in range(150):
                signers[index % len(signers)].sign_now(b"challenge")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "token calls hung"
    assert failures == []


def test_pkcs11_wrong_pin_is_a_clear_error(softhsm: str) -> None:
    uri = token_uri(RSA_LABEL, FRESH_TOKEN)
    with pytest.raises(WrongPinError, match="mã PIN không mở được"):
        load_credential(uri, "000000", pkcs11_module=softhsm)  # refused by the token itself
    load_credential(uri, USER_PIN, pkcs11_module=softhsm)
    with pytest.raises(WrongPinError, match="mã PIN không mở được"):
        load_credential(uri, "000000", pkcs11_module=softhsm)  # token already logged in
    with pytest.raises(WrongPinError, match="chưa nhập mã PIN"):
        load_credential(uri, None, pkcs11_module=softhsm)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (token_uri(RSA_LABEL, "no-such-token"), "không tìm thấy thiết bị PKCS#11.*congvan-test"),
        (token_uri("no-such-key"), "không tìm thấy khóa bí mật 'no-such-key'"),
        (f"pkcs11:token={TOKEN};id=%7f", "không tìm thấy khóa bí mật '7f'"),
        (f"pkcs11:token={TOKEN}", "không chỉ rõ khóa"),
        (f"pkcs11:token={TOKEN};object", "sai dạng"),
    ],
)
def test_pkcs11_unknown_token_or_key(softhsm: str, uri: str, message: str) -> None:
    with pytest.raises(CredentialError, match=message) as raised:
        load_credential(uri, USER_PIN, pkcs11_module=softhsm)
    assert not isinstance(raised.value, WrongPinError)


def test_pkcs11_key_without_certificate(softhsm: str) -> None:
    """A key whose certificate was never put on the token cannot sign as anyone."""
    subprocess.run(
        [
            *("softhsm2-util", "--import", str(dev_key_path("agency-vp")), "--token", TOKEN),
            *("--label", "agency-vp", "--id", "03", "--pin", USER_PIN),
        ],
        check=True,
        capture_output=True,
    )
    with pytest.raises(CredentialError, match="không tìm thấy chứng thư số"):
        load_credential(token_uri("agency-vp"), USER_PIN, pkcs11_module=softhsm)


def test_pkcs11_missing_or_unloadable_module(tmp_path: Path) -> None:
    not_a_library = tmp_path / "fake.so"
    not_a_library.write_text("not a shared object")
    for module in (tmp_path / "missing.so", not_a_library):
        with pytest.raises(CredentialError, match=f"không nạp được thư viện PKCS#11 {module}"):
            load_credential(token_uri(RSA_LABEL), USER_PIN, pkcs11_module=module)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "exchange.cli", "sign", *args]


def test_cli_signs_with_a_pkcs11_uri_and_pin_env(
    softhsm: str,
    sample_pdf: Path,
    tmp_path: Path,
    assert_signed_by: Callable[[bytes, Credential], None],
) -> None:
    out = tmp_path / "signed.pdf"
    arguments = [str(sample_pdf), "-o", str(out), "--credential", token_uri(EC_LABEL)]
    arguments += ["--pkcs11-module", softhsm, "--pin-env", "TOKEN_PIN", "--level", "b-b"]
    env = {**os.environ, "TOKEN_PIN": USER_PIN}  # SOFTHSM2_CONF comes from the fixture
    run = subprocess.run(_cli(*arguments), capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "Đã ký" in run.stdout
    credential = load_credential(token_uri(EC_LABEL), USER_PIN, pkcs11_module=softhsm)
    assert_signed_by(out.read_bytes(), credential)

    env["TOKEN_PIN"] = "000000"
    wrong = tmp_path / "wrong.pdf"
    arguments[2] = str(wrong)
    run = subprocess.run(_cli(*arguments), capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode != 0
    assert "mã PIN" in run.stderr and "Traceback" not in run.stderr
    assert not wrong.exists()


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"waited for {needle!r}, got {bytes(seen)!r}"
        if select.select([fd], [], [], remaining)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed its end
                chunk = b""
            assert chunk, f"child output ended before {needle!r}: {bytes(seen)!r}"
            seen += chunk


def test_cli_prompts_for_the_pin_on_a_terminal(
    softhsm: str,
    sample_pdf: Path,
    tmp_path: Path,
    assert_signed_by: Callable[[bytes, Credential], None],
) -> None:
    out = tmp_path / "signed.pdf"
    arguments = [str(sample_pdf), "-o", str(out), "--credential", token_uri(RSA_LABEL)]
    arguments += ["--pkcs11-module", softhsm, "--level", "b-b"]
    controller, terminal = pty.openpty()
    # A new session has no controlling terminal, so the prompt reads the pseudo-terminal on stdin.
    child = subprocess.Popen(
        _cli(*arguments),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        _read_until(controller, "Mã PIN".encode(), seen)
        os.write(controller, f"{USER_PIN}\n".encode())
        _read_until(controller, "Đã ký".encode(), seen)
        assert child.wait(timeout=30) == 0, bytes(seen).decode(errors="replace")
    finally:
        if child.poll() is None:
            child.kill()
        os.close(controller)
    assert USER_PIN.encode() not in seen  # typed without echo
    credential = load_credential(token_uri(RSA_LABEL), USER_PIN, pkcs11_module=softhsm)
    assert_signed_by(out.read_bytes(), credential)
