"""Signing with a key the service never sees: prepare, sign in a client process, finish.

Every step runs in its own process, as it does in production: the service prepares (CLI), a
separate Python process standing in for the official's USB token signs with a development key
(the service code never loads it), and the service finishes (CLI) from the files on disk alone.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.devpki import dev_ca_path, dev_cert_path
from signer.errors import SigningError
from signer.remote import finish_remote_signature, prepare_remote_signature, state_path_for
from signer.signing import SignOptions
from signer.trust import load_trust
from signer.verification import verify_pdf
from tests.support.cli import run_cli
from tests.support.remote_client import client_sign

RSA_LABEL = "official-tpd-chutich"
EC_LABEL = "official-tpd-phochutich"
OTHER_RSA_LABEL = "official-tanthoi-chutich"


def _prepare(
    source: Path, prepared: Path, label: str, *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    run = run_cli(
        "remote",
        "prepare",
        source,
        "-o",
        prepared,
        "--cert",
        dev_cert_path(label),
        "--chain",
        dev_ca_path(),
        *(extra or ("--level", "b-b")),
        env=env,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def _finish(
    prepared: Path, signature: bytes, output: Path, *, cms: bool = False, extra: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    signature_file = prepared.with_suffix(".sig")
    signature_file.write_bytes(signature)
    option = "--cms" if cms else "--signature"
    return run_cli("remote", "finish", prepared, option, signature_file, "-o", output, *extra)


def _verify(path: Path) -> Any:
    report = verify_pdf(path, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", (report.reason, report.to_dict())
    return report


def _assert_refused(run: subprocess.CompletedProcess[str], output: Path, *words: str) -> None:
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("congvan: "), run.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(
    ("label", "scheme", "algorithm"),
    [
        (RSA_LABEL, "pss", "rsassa_pss"),
        (RSA_LABEL, "pkcs1", "sha256_rsa"),
        (EC_LABEL, "ecdsa", "sha256_ecdsa"),
        (EC_LABEL, "ecdsa-raw", "sha256_ecdsa"),
    ],
)
def test_token_signature_verifies_in_congvan_and_pdfsig(
    dev_services: str,  # pdfsig (NSS) asks the certificate's OCSP responder
    sample_pdf: Path,
    tmp_path: Path,
    nss_db: str,
    label: str,
    scheme: str,
    algorithm: str,
) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, label, "--level", "b-b", "--reason", "Ký duyệt")
    assert answer["algorithm"] == ("ecdsa-sha256" if label == EC_LABEL else "rsassa-pss-sha256")
    assert Path(answer["state"]) == state_path_for(prepared)
    assert not output.exists()

    signature = client_sign(label, answer["to_be_signed"], scheme)
    run = _finish(prepared, signature, output)
    assert run.returncode == 0, run.stderr

    report = _verify(output)
    (only,) = report.signatures
    assert only.field == answer["field_name"] == "Signature1"
    assert only.pades_level == "B-B"
    assert only.signer.common_name == _common_name(label)
    embedded = PdfFileReader(output.open("rb")).embedded_signatures[0]
    assert embedded.signer_info["signature_algorithm"]["algorithm"].native == algorithm
    assert str(embedded.sig_object["/Reason"]) == "Ký duyệt"
    assert output.read_bytes().startswith(sample_pdf.read_bytes())

    pdfsig = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(output)], capture_output=True, text=True, timeout=60
    )
    assert "Signature is Valid." in pdfsig.stdout, pdfsig.stdout + pdfsig.stderr
    assert "Certificate is Trusted." in pdfsig.stdout, pdfsig.stdout


def _common_name(label: str) -> str:
    cert = x509.Certificate.load(pem.unarmor(dev_cert_path(label).read_bytes())[2])
    return str(cert.subject.native["common_name"])


@pytest.mark.parametrize("level", ["b-t", "b-lt", "b-lta"])
def test_timestamp_and_validation_data_are_added_at_finish(
    dev_services: str, sample_pdf: Path, tmp_path: Path, level: str
) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, EC_LABEL, "--level", level)
    signature = client_sign(EC_LABEL, answer["to_be_signed"], "ecdsa")
    run = _finish(prepared, signature, output)
    assert run.returncode == 0, run.stderr
    report = _verify(output)
    assert report.signatures[0].pades_level == level.upper()
    assert report.signatures[0].timestamp is not None


@pytest.mark.parametrize(("label", "scheme"), [(RSA_LABEL, "cms-pss"), (EC_LABEL, "cms-ecdsa")])
def test_a_whole_cms_from_the_client_is_accepted(
    sample_pdf: Path, tmp_path: Path, label: str, scheme: str
) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, label)
    run = _finish(prepared, client_sign(label, answer["to_be_signed"], scheme), output, cms=True)
    assert run.returncode == 0, run.stderr
    _verify(output)


def test_wrong_signature_is_refused_and_the_state_stays_usable(
    sample_pdf: Path, tmp_path: Path
) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, RSA_LABEL)
    good = client_sign(RSA_LABEL, answer["to_be_signed"], "pss")
    broken = bytes([good[0] ^ 1]) + good[1:]
    _assert_refused(_finish(prepared, broken, output), output, "không khớp", "không ghi tệp")
    # Signing the wrong bytes (here the document digest) is just as wrong.
    wrong_data = client_sign(RSA_LABEL, answer["digest"], "pss")
    _assert_refused(_finish(prepared, wrong_data, output), output, "không khớp")
    # A refusal consumes nothing: the right signature still finishes.
    assert _finish(prepared, good, output).returncode == 0
    _verify(output)


def test_signature_by_another_key_is_refused(sample_pdf: Path, tmp_path: Path) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, RSA_LABEL)
    other = client_sign(OTHER_RSA_LABEL, answer["to_be_signed"], "pss")
    _assert_refused(_finish(prepared, other, output), output, "không khớp")
    other_cms = client_sign(OTHER_RSA_LABEL, answer["to_be_signed"], "cms-pss")
    _assert_refused(_finish(prepared, other_cms, output, cms=True), output, "chứng thư khác")


def test_tampered_prepared_pdf_is_refused(sample_pdf: Path, tmp_path: Path) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, EC_LABEL)
    signature = client_sign(EC_LABEL, answer["to_be_signed"], "ecdsa")
    original = prepared.read_bytes()
    # One byte changed inside the signed byte ranges (in the original document's part).
    position = len(original) // 4
    prepared.write_bytes(
        original[:position] + bytes([original[position] ^ 0x20]) + original[position + 1 :]
    )
    _assert_refused(_finish(prepared, signature, output), output, "đã bị thay đổi")
    prepared.write_bytes(original)
    assert _finish(prepared, signature, output).returncode == 0


def test_tampered_state_is_refused(sample_pdf: Path, tmp_path: Path) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    secret = {"CONGVAN_REMOTE_SECRET": "dev-only-secret"}
    answer = _prepare(sample_pdf, prepared, RSA_LABEL, "--level", "b-b", env=secret)
    state_file = Path(answer["state"])
    original = json.loads(state_file.read_text())

    # Swap in another official's certificate and re-derive everything an attacker can.
    other = pem.unarmor(dev_cert_path(OTHER_RSA_LABEL).read_bytes())[2]
    forged = {**original, "certificate": base64.b64encode(other).decode()}
    state_file.write_text(json.dumps(forged))
    signature = client_sign(OTHER_RSA_LABEL, answer["to_be_signed"], "pss")
    run = run_cli(
        "remote",
        "finish",
        prepared,
        "--signature",
        _write(tmp_path / "other.sig", signature),
        "-o",
        output,
        env=secret,
    )
    _assert_refused(run, output, "bị sửa đổi")

    # Even the untouched state is refused without the service secret that sealed it.
    state_file.write_text(json.dumps(original))
    good = client_sign(RSA_LABEL, answer["to_be_signed"], "pss")
    _assert_refused(_finish(prepared, good, output), output, "bị sửa đổi")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_finishing_twice_is_refused(sample_pdf: Path, tmp_path: Path) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    answer = _prepare(sample_pdf, prepared, EC_LABEL)
    signature = client_sign(EC_LABEL, answer["to_be_signed"], "ecdsa")
    assert _finish(prepared, signature, output).returncode == 0
    first = output.read_bytes()
    again = tmp_path / "again.pdf"
    _assert_refused(_finish(prepared, signature, again), again, "đã hoàn tất")
    assert output.read_bytes() == first


def test_expired_state_is_refused(sample_pdf: Path, tmp_path: Path) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    cert = x509.Certificate.load(pem.unarmor(dev_cert_path(EC_LABEL).read_bytes())[2])
    ca = x509.Certificate.load(pem.unarmor(dev_ca_path().read_bytes())[2])
    start = datetime.now().astimezone()
    answer = prepare_remote_signature(
        sample_pdf, prepared, cert, [ca], SignOptions(), valid_for=timedelta(minutes=5), now=start
    )
    signature = client_sign(EC_LABEL, base64.b64encode(answer.to_be_signed).decode(), "ecdsa")
    with pytest.raises(SigningError, match="hết hạn"):
        finish_remote_signature(prepared, None, signature, output, now=start + timedelta(minutes=6))
    assert not output.exists()
    finish_remote_signature(prepared, None, signature, output, now=start + timedelta(minutes=4))
    _verify(output)


@pytest.mark.parametrize(
    ("label", "words"),
    [("bad-keyusage", "digitalSignature"), ("bad-expired", "không còn hiệu lực")],
)
def test_a_certificate_that_cannot_sign_is_refused_at_prepare(
    sample_pdf: Path, tmp_path: Path, label: str, words: str
) -> None:
    prepared = tmp_path / "prepared.pdf"
    run = run_cli("remote", "prepare", sample_pdf, "-o", prepared, "--cert", dev_cert_path(label))
    _assert_refused(run, prepared, words)
    assert not state_path_for(prepared).exists()


def test_finish_needs_exactly_one_signature_input(sample_pdf: Path, tmp_path: Path) -> None:
    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    _prepare(sample_pdf, prepared, EC_LABEL)
    run = run_cli("remote", "finish", prepared, "-o", output)
    _assert_refused(run, output, "--signature")


def test_visible_appearance_is_prepared_and_covered_by_the_signature(
    sample_pdf: Path, tmp_path: Path
) -> None:
    from signer.appearance import Appearance, dev_image_path, load_image

    prepared, output = tmp_path / "prepared.pdf", tmp_path / "signed.pdf"
    cert = x509.Certificate.load(pem.unarmor(dev_cert_path(RSA_LABEL).read_bytes())[2])
    ca = x509.Certificate.load(pem.unarmor(dev_ca_path().read_bytes())[2])
    image = load_image(dev_image_path(RSA_LABEL))
    options = SignOptions(appearance=Appearance("official", image=image))
    answer = prepare_remote_signature(sample_pdf, prepared, cert, [ca], options)
    signature = client_sign(RSA_LABEL, base64.b64encode(answer.to_be_signed).decode(), "pss")
    finish_remote_signature(prepared, None, signature, output)

    _verify(output)
    embedded = PdfFileReader(output.open("rb")).embedded_signatures[0]
    left, bottom, right, top = (float(v) for v in embedded.sig_field["/Rect"])
    assert right - left > 50 and top - bottom > 30  # a visible widget, not a 0x0 one
    assert "/AP" in embedded.sig_field
