"""The development PKI: committed certificates, and its TSA, OCSP and CRL over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, tsp
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from exchange.cli.dev import dev_pki_group, load_generator
from exchange.config import settings_from_env
from exchange.dev_services import DevPkiError, make_dev_services_app
from signer.devpki import (
    CHECKOUT_PKI_DIR,
    DEV_CRL_URL,
    DEV_OCSP_URL,
    DEV_PASSPHRASE,
    DevServices,
    dev_cert_path,
    dev_p12_path,
    dev_root_path,
)
from tests.support.devservices import fetching_context

GEN = load_generator()
LABELS = tuple(GEN.key_types())
AGENCIES = {a.label: a for a in GEN.AGENCIES}
OFFICIALS = {o.label: o for o in (*GEN.OFFICIALS, *GEN.BAD_OFFICIALS)}
ROGUE = ("rogue-root", "rogue-agency-tpd")
OCSP = AuthorityInformationAccessOID.OCSP
NOW = datetime.now(tz=UTC)


def cert(label: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dev_cert_path(label).read_bytes())


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


def http_post(url: str, body: bytes, content_type: str) -> tuple[str, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Content-Type"]), bytes(response.read())


def verify_issued_by(child: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise unless `issuer`'s key signed `child` (the CAs are RSA, PKCS#1 v1.5)."""
    public = issuer.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert child.signature_hash_algorithm is not None
    public.verify(
        child.signature,
        child.tbs_certificate_bytes,
        padding.PKCS1v15(),
        child.signature_hash_algorithm,
    )


# ---------------------------------------------------------------- committed certificates


def test_every_label_has_certificate_key_and_p12_that_match() -> None:
    root, ca = cert("vn-dev-root"), cert("vn-dev-ca")
    for label in LABELS:
        with dev_p12_path(label).open("rb") as handle:
            key, leaf, extra = pkcs12.load_key_and_certificates(
                handle.read(), DEV_PASSPHRASE.encode()
            )
        assert key is not None and leaf is not None
        assert leaf == cert(label), label
        assert key.public_key() == leaf.public_key(), label
        private_pem = (CHECKOUT_PKI_DIR / "keys" / f"{label}.key.pem").read_bytes()
        assert (
            serialization.load_pem_private_key(private_pem, None).public_key() == key.public_key()
        )
        if label in ROGUE:
            continue
        expected_chain = (
            [] if label == "vn-dev-root" else [root] if label == "vn-dev-ca" else [ca, root]
        )
        assert extra == expected_chain, label


def test_key_types_are_rsa_2048_and_ecdsa_p256_as_listed() -> None:
    kinds = set()
    for label, kind in GEN.key_types().items():
        public = cert(label).public_key()
        if kind == "rsa":
            assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048, label
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey), label
            assert isinstance(public.curve, ec.SECP256R1), label
        kinds.add(kind)
    assert kinds == {"rsa", "ec"}
    assert GEN.key_types()["official-tpd-phochutich"] == "ec"


def test_validity_at_least_ten_years_except_the_expired_one() -> None:
    ten_years = NOW + timedelta(days=3653)
    for label in LABELS:
        c = cert(label)
        assert c.not_valid_before_utc <= NOW, label
        if label == "bad-expired":
            assert c.not_valid_after_utc < NOW
        else:
            assert c.not_valid_after_utc >= ten_years, label
    assert cert("vn-dev-root").not_valid_after_utc >= datetime(2045, 1, 1, tzinfo=UTC)


def test_chain_signatures() -> None:
    root, ca, rogue_root = cert("vn-dev-root"), cert("vn-dev-ca"), cert("rogue-root")
    verify_issued_by(root, root)
    verify_issued_by(ca, root)
    for label in LABELS:
        if label not in ("vn-dev-root", "vn-dev-ca", *ROGUE):
            verify_issued_by(cert(label), ca)
    verify_issued_by(rogue_root, rogue_root)
    verify_issued_by(cert("rogue-agency-tpd"), rogue_root)


def test_rogue_certificates_copy_names_but_not_keys() -> None:
    root, rogue_root = cert("vn-dev-root"), cert("rogue-root")
    agency, rogue_agency = cert("agency-tpd"), cert("rogue-agency-tpd")
    assert rogue_root.subject.public_bytes() == root.subject.public_bytes()
    assert rogue_agency.subject.public_bytes() == agency.subject.public_bytes()
    assert rogue_root.public_key() != root.public_key()
    assert rogue_agency.public_key() != agency.public_key()
    with pytest.raises(InvalidSignature):
        verify_issued_by(rogue_agency, root)
    with pytest.raises(InvalidSignature):
        verify_issued_by(rogue_agency, cert("vn-dev-ca"))
    # No (issuer, serial) pair is shared, so nothing can look a certificate up by mistake.
    pairs = {(cert(lbl).issuer.public_bytes(), cert(lbl).serial_number) for lbl in LABELS}
    assert len(pairs) == len(LABELS)


def _key_usage(c: x509.Certificate) -> x509.Extension[x509.KeyUsage]:
    return c.extensions.get_extension_for_class(x509.KeyUsage)


def test_signing_certificates_key_usage_and_revocation_urls() -> None:
    for label in (*AGENCIES, *OFFICIALS):
        c = cert(label)
        usage = _key_usage(c)
        assert usage.critical, label
        if label == "bad-keyusage":
            assert usage.value.key_encipherment
            assert not usage.value.digital_signature and not usage.value.content_commitment
        else:
            assert usage.value.digital_signature and usage.value.content_commitment, label
            assert not usage.value.key_encipherment, label
        points = c.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [n.value for p in points for n in p.full_name or []] == [DEV_CRL_URL]
        aia = c.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [d.access_location.value for d in aia if d.access_method == OCSP]
        assert ocsp_urls == [DEV_OCSP_URL], label


def test_service_certificates() -> None:
    responder = cert("ocsp")
    for tsa_label in ("tsa", "bad-tsa-revoked"):
        tsa_eku = cert(tsa_label).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert tsa_eku.critical and list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    ocsp_eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(ocsp_eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    for ca_label in ("vn-dev-root", "vn-dev-ca"):
        constraints = cert(ca_label).extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca


def _attr(c: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = c.subject.get_attributes_for_oid(oid)
    assert len(values) == 1
    return str(values[0].value)


def test_subjects_carry_agency_identifier_and_vietnamese_names() -> None:
    for label, agency in AGENCIES.items():
        c = cert(label)
        assert _attr(c, NameOID.ORGANIZATION_IDENTIFIER) == agency.code
        assert _attr(c, NameOID.ORGANIZATION_NAME) == agency.name
        assert _attr(c, NameOID.COMMON_NAME) == agency.name
        assert _attr(c, NameOID.COUNTRY_NAME) == "VN"
        assert _attr(c, NameOID.STATE_OR_PROVINCE_NAME) == "Tiền Giang"
        assert _attr(c, NameOID.LOCALITY_NAME) == "Tân Phú Đông"
    assert _attr(cert("agency-tpd"), NameOID.ORGANIZATION_NAME) == (
        "Ủy ban nhân dân huyện Tân Phú Đông"
    )
    for label, official in OFFICIALS.items():
        c = cert(label)
        agency = AGENCIES[official.agency]
        assert _attr(c, NameOID.ORGANIZATION_IDENTIFIER) == agency.code, label
        assert _attr(c, NameOID.ORGANIZATION_NAME) == agency.name, label
        assert _attr(c, NameOID.COMMON_NAME) == official.name, label
        assert _attr(c, NameOID.TITLE) == official.title, label
    codes = [a.code for a in AGENCIES.values()]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert code.startswith("DEV.") and len(code) <= 35
        assert set(code) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.")
    for text in (*(a.name for a in AGENCIES.values()), *(o.name for o in OFFICIALS.values())):
        assert unicodedata.normalize("NFC", text) == text


def test_the_pki_folder_follows_its_variable_through_the_settings(tmp_path: Path) -> None:
    """CONGVAN_DEV_PKI_DIR is read into Settings (exchange/config.py); the library is told."""
    pki_dir = settings_from_env({"CONGVAN_DEV_PKI_DIR": str(tmp_path)}).effective_dev_pki_dir
    assert dev_cert_path("tsa", pki_dir=pki_dir) == tmp_path / "certs" / "tsa.cert.pem"
    assert dev_p12_path("agency-tpd", pki_dir=pki_dir) == tmp_path / "p12" / "agency-tpd.p12"
    pki_dir = settings_from_env({}).effective_dev_pki_dir
    checkout = Path(__file__).resolve().parents[1] / "certs" / "dev"
    assert dev_root_path(pki_dir=pki_dir) == checkout / "certs" / "vn-dev-root.cert.pem"
    assert dev_root_path() == checkout / "certs" / "vn-dev-root.cert.pem"


def test_regenerating_with_the_same_keys_gives_identical_certificates(
    tmp_path: Path, runner: CliRunner
) -> None:
    shutil.copytree(CHECKOUT_PKI_DIR / "keys", tmp_path / "keys")
    result = runner.invoke(dev_pki_group, ["generate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for label in LABELS:
        assert (tmp_path / "certs" / f"{label}.cert.pem").read_bytes() == (
            dev_cert_path(label).read_bytes()
        ), label
    assert (tmp_path / "certomancer.yml").read_bytes() == (
        CHECKOUT_PKI_DIR / "certomancer.yml"
    ).read_bytes()


def test_services_refuse_keys_that_do_not_match_the_committed_certificates(
    tmp_path: Path,
) -> None:
    for name in ("keys", "certs"):
        shutil.copytree(CHECKOUT_PKI_DIR / name, tmp_path / name)
    shutil.copy(CHECKOUT_PKI_DIR / "certomancer.yml", tmp_path)
    make_dev_services_app(tmp_path)
    shutil.copy(tmp_path / "keys" / "rogue-root.key.pem", tmp_path / "keys" / "vn-dev-ca.key.pem")
    with pytest.raises(DevPkiError, match="vn-dev-ca"):
        make_dev_services_app(tmp_path)
    (tmp_path / "certs" / "agency-tpd.cert.pem").unlink()
    with pytest.raises(DevPkiError, match="dev-pki generate"):
        make_dev_services_app(tmp_path)


# ---------------------------------------------------------------- services over HTTP


def test_health(dev_services: str) -> None:
    assert b'"ok"' in http_get(f"{dev_services}/healthz")


def test_served_certificates_equal_committed_files(dev_services: str) -> None:
    base = f"{dev_services}/congvan-dev/certs"
    assert http_get(f"{base}/root/ca.cert.pem") == dev_root_path().read_bytes()
    assert http_get(f"{base}/root/issued/vn-dev-ca.cert.pem") == (
        dev_cert_path("vn-dev-ca").read_bytes()
    )
    assert http_get(f"{base}/ca/ca.cert.pem") == dev_cert_path("vn-dev-ca").read_bytes()
    for label in LABELS:
        if label not in ("vn-dev-root", "vn-dev-ca", *ROGUE):
            served = http_get(f"{base}/ca/issued/{label}.cert.pem")
            assert served == dev_cert_path(label).read_bytes(), label


def test_crl_lists_revoked_certificate_and_is_signed_by_ca(
    dev_services: str, dev: DevServices
) -> None:
    crl_url = dev.relocate(DEV_CRL_URL)  # the run's services may not be on 8790
    assert crl_url.startswith(dev_services)
    crl = x509.load_der_x509_crl(http_get(crl_url))
    ca = cert("vn-dev-ca")
    assert crl.issuer == ca.subject
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert not crl.is_signature_valid(cert("vn-dev-root").public_key())  # type: ignore[arg-type]
    assert crl.last_update_utc <= NOW + timedelta(minutes=1)
    assert crl.next_update_utc is not None and crl.next_update_utc > NOW
    listed = {entry.serial_number: entry.revocation_date_utc for entry in crl}
    assert listed == {
        cert("bad-revoked").serial_number: datetime(2025, 3, 1, tzinfo=UTC),
        cert("bad-tsa-revoked").serial_number: datetime(2025, 6, 1, tzinfo=UTC),
    }
    # The root's CRL exists too, so the intermediate's status can be checked.
    root_crl = x509.load_der_x509_crl(http_get(crl_url.replace("/ca/", "/root/")))
    assert root_crl.is_signature_valid(cert("vn-dev-root").public_key())  # type: ignore[arg-type]


def _ocsp(label: str, algorithm: hashes.HashAlgorithm, dev: DevServices) -> ocsp.OCSPResponse:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert(label), cert("vn-dev-ca"), algorithm)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    content_type, body = http_post(dev.relocate(DEV_OCSP_URL), request, "application/ocsp-request")
    assert content_type == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.serial_number == cert(label).serial_number
    responder = cert("ocsp")
    assert response.certificates == [responder]
    public = responder.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and response.signature_hash_algorithm
    public.verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )
    return response


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
def test_ocsp_good_and_revoked(
    dev_services: str, dev: DevServices, algorithm: hashes.HashAlgorithm
) -> None:
    assert dev.relocate(DEV_OCSP_URL).startswith(dev_services)
    for label in ("agency-tpd", "official-tpd-phochutich"):
        assert _ocsp(label, algorithm, dev).certificate_status == ocsp.OCSPCertStatus.GOOD
    revoked = _ocsp("bad-revoked", algorithm, dev)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_time_utc == datetime(2025, 3, 1, tzinfo=UTC)
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    revoked_tsa = _ocsp("bad-tsa-revoked", algorithm, dev)
    assert revoked_tsa.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked_tsa.revocation_time_utc == datetime(2025, 6, 1, tzinfo=UTC)


def test_ocsp_does_not_vouch_for_the_rogue_chain(dev: DevServices) -> None:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert("rogue-agency-tpd"), cert("rogue-root"), hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    _, body = http_post(dev.relocate(DEV_OCSP_URL), request, "application/ocsp-request")
    status = ocsp.load_der_ocsp_response(body).response_status
    assert status == ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_timestamp_response_validates(dev_services: str, dev: DevServices) -> None:
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    assert dev.tsa_url.startswith(dev_services)
    digest = hashlib.sha256(b"congvan: van ban can dau thoi gian").digest()
    nonce = int.from_bytes(os.urandom(8), "big")
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    content_type, body = http_post(dev.tsa_url, request.dump(), "application/timestamp-query")
    assert content_type == "application/timestamp-reply"
    response = tsp.TimeStampResp.load(body)
    assert response["status"]["status"].native == "granted"
    signed_data = response["time_stamp_token"]["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    assert tst_info["nonce"].native == nonce
    assert abs(tst_info["gen_time"].native - datetime.now(tz=UTC)) < timedelta(minutes=2)
    tsa_der = dev_cert_path("tsa").read_bytes()
    embedded = [c.chosen.dump() for c in signed_data["certificates"]]
    assert (
        asn1_x509.Certificate.load(
            x509.load_pem_x509_certificate(tsa_der).public_bytes(serialization.Encoding.DER)
        ).dump()
        in embedded
    )

    root = asn1_x509.Certificate.load(cert("vn-dev-root").public_bytes(serialization.Encoding.DER))
    ca = asn1_x509.Certificate.load(cert("vn-dev-ca").public_bytes(serialization.Encoding.DER))
    # Hard-fail revocation: pyHanko fetches the CRL and OCSP named in the certificates from us.
    context = fetching_context([root], dev, other_certs=[ca], revocation_mode="hard-fail")
    status = asyncio.run(validate_tst_signed_data(signed_data, context, lambda _algo: digest))
    assert status["intact"] and status["valid"] and status["trust_problem_indic"] is None
    wrong = asyncio.run(validate_tst_signed_data(signed_data, context, lambda _algo: b"x" * 32))
    assert not wrong["intact"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(port: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "exchange.cli", "dev-pki", "serve", "--port", str(port)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_refuses_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(port)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"127.0.0.1:{port}" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_serve_stops_cleanly_on_ctrl_c() -> None:
    port = _free_port()
    process = _serve(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            try:
                assert b'"ok"' in http_get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "dev-pki serve did not answer"
                time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 2  # the start-up line and the stop line


def test_serve_on_port_zero_picks_a_free_port_and_prints_its_url() -> None:
    command = [sys.executable, "-m", "exchange.cli", "dev-pki", "serve", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip()  # printed once the port is listening
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":8790"), base
        assert b'"ok"' in http_get(f"{base}/healthz")
        served = http_get(f"{base}/congvan-dev/crls/ca/latest.crl")
        assert x509.load_der_x509_crl(served).issuer == cert("vn-dev-ca").subject
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    # The start-up line says which variable points the other commands there.
    assert f"CONGVAN_DEV_SERVICES_URL={base}" in stderr, stderr
