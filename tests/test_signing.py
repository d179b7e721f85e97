"""PAdES signing with loaded credentials: every level verifies in pyHanko and poppler's pdfsig."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signer.credentials import Credential, load_credential
from signer.devpki import (
    DEV_PASSPHRASE,
    DEV_TSA_URL,
    DevServices,
    dev_p12_path,
    dev_root_path,
)
from signer.errors import CredentialError, SigningError, UnreadablePdfError, WrongPinError
from signer.signing import Level, SignOptions, sign_pdf, signature_bytes_reserved
from tests.support.devservices import dev_sign_options, fetching_context

RSA_LABEL = "agency-tpd"  # RSA-2048: must sign with RSASSA-PSS
EC_LABEL = "official-tpd-phochutich"  # ECDSA P-256


@pytest.fixture(scope="session")
def rsa_credential() -> Credential:
    credential = load_credential(dev_p12_path(RSA_LABEL), DEV_PASSPHRASE)
    assert credential.certificate.public_key.algorithm == "rsa"
    return credential


@pytest.fixture(scope="session")
def ec_credential() -> Credential:
    credential = load_credential(dev_p12_path(EC_LABEL), DEV_PASSPHRASE)
    assert credential.certificate.public_key.algorithm == "ec"
    return credential


def _options(level: Level, root: x509.Certificate, dev: DevServices, **text: str) -> SignOptions:
    return dev_sign_options(dev, level=level, tsa_url=DEV_TSA_URL, trust_roots=(root,), **text)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"


@pytest.mark.parametrize("level", ["b-b", "b-t", "b-lt", "b-lta"])
@pytest.mark.parametrize("label", [RSA_LABEL, EC_LABEL])
def test_each_level_verifies_in_pyhanko(
    dev: DevServices,
    sample_pdf: Path,
    tmp_path: Path,
    dev_root: x509.Certificate,
    label: str,
    level: Level,
) -> None:
    credential = load_credential(dev_p12_path(label), DEV_PASSPHRASE)
    out = tmp_path / "signed.pdf"
    options = _options(
        level,
        dev_root,
        dev,
        reason="Ban hành văn bản",
        location="Tân Phú Đông",
        contact_info="DEV.TPD.000",
    )
    result = sign_pdf(sample_pdf, out, credential, options)

    data = out.read_bytes()
    assert result.digest_sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert result.field_name == "Signature1"
    assert data.startswith(sample_pdf.read_bytes())  # an incremental update, original intact

    reader = PdfFileReader(io.BytesIO(data))
    signature = reader.embedded_signatures[0]
    assert signature.field_name == "Signature1"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert str(signature.sig_object["/Reason"]) == "Ban hành văn bản"
    assert str(signature.sig_object["/Location"]) == "Tân Phú Đông"
    assert str(signature.sig_object["/ContactInfo"]) == "DEV.TPD.000"
    assert str(signature.sig_object["/Name"]) == credential.common_name

    context = fetching_context([dev_root], dev)  # the run's dev services
    status = validate_pdf_signature(signature, context)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.md_algorithm == "sha256"
    if level == "b-b":
        assert status.timestamp_validity is None
        assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    else:
        assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    if level in ("b-lt", "b-lta"):
        # Offline, with revocation checks required: passes only if the DSS holds the data.
        dss = DocumentSecurityStore.read_dss(reader)
        assert dss.ocsps or dss.crls
        offline = dss.as_validation_context(
            {"trust_roots": [dev_root], "allow_fetching": False, "revocation_mode": "hard-fail"}
        )
        ltv = validate_pdf_signature(signature, offline)
        assert ltv.valid and ltv.trusted, ltv.pretty_print_details()
    if level == "b-lta":
        assert len(reader.embedded_timestamp_signatures) == 1


def test_rsa_signs_with_pss_and_ecdsa_with_sha256(
    sample_pdf: Path, rsa_credential: Credential, ec_credential: Credential
) -> None:
    rsa_out, ec_out = io.BytesIO(), io.BytesIO()
    sign_pdf(sample_pdf, rsa_out, rsa_credential)
    sign_pdf(sample_pdf, ec_out, ec_credential)

    rsa_algo = PdfFileReader(rsa_out).embedded_signatures[0].signer_info["signature_algorithm"]
    assert rsa_algo["algorithm"].native == "rsassa_pss"
    params = rsa_algo["parameters"]
    assert params["hash_algorithm"]["algorithm"].native == "sha256"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
    assert params["salt_length"].native == 32

    ec_algo = PdfFileReader(ec_out).embedded_signatures[0].signer_info["signature_algorithm"]
    assert ec_algo["algorithm"].native == "sha256_ecdsa"


@pytest.mark.parametrize("label", [RSA_LABEL, EC_LABEL])
@pytest.mark.parametrize("level", ["b-b", "b-lt"])
def test_pdfsig_says_valid_and_trusted(
    dev: DevServices,
    sample_pdf: Path,
    tmp_path: Path,
    nss_db: str,
    dev_root: x509.Certificate,
    label: str,
    level: Level,
) -> None:
    credential = load_credential(dev_p12_path(label), DEV_PASSPHRASE)
    out = tmp_path / "signed.pdf"
    sign_pdf(sample_pdf, out, credential, _options(level, dev_root, dev))

    run = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, str(out)], capture_output=True, text=True, timeout=60
    )
    # Only our signature is judged: poppler 22.12 cannot validate RFC 3161 document timestamps.
    first = run.stdout.split("Signature #2:")[0]
    assert "Signature #1:" in first, run.stdout + run.stderr
    assert "Signature is Valid." in first, run.stdout
    assert "Certificate is Trusted." in first, run.stdout


def test_pdfsig_rejects_a_signature_outside_its_trust(
    sample_pdf: Path, tmp_path: Path, rsa_credential: Credential
) -> None:
    """Guards the pdfsig test itself: an empty NSS database must not report trust."""
    db = f"sql:{tmp_path / 'nss'}"
    (tmp_path / "nss").mkdir()
    subprocess.run(["certutil", "-N", "--empty-password", "-d", db], check=True)
    out = tmp_path / "signed.pdf"
    sign_pdf(sample_pdf, out, rsa_credential)
    run = subprocess.run(["pdfsig", "-nssdir", db, str(out)], capture_output=True, text=True)
    assert "Signature is Valid." in run.stdout
    assert "Certificate is Trusted." not in run.stdout


def test_certify_produces_docmdp_certification(
    sample_pdf: Path, tmp_path: Path, ec_credential: Credential, dev_root: x509.Certificate
) -> None:
    out = tmp_path / "certified.pdf"
    sign_pdf(sample_pdf, out, ec_credential, SignOptions(certify=True, docmdp="no_changes"))
    reader = PdfFileReader(io.BytesIO(out.read_bytes()))
    signature = reader.embedded_signatures[0]
    assert signature.docmdp_level == MDPPerm.NO_CHANGES
    assert reader.root["/Perms"]["/DocMDP"].get_object() is signature.sig_object
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[dev_root]))
    assert status.intact and status.valid and status.docmdp_ok


def test_approval_signature_is_not_a_certification(
    sample_pdf: Path, ec_credential: Credential
) -> None:
    out = io.BytesIO()
    sign_pdf(sample_pdf, out, ec_credential)
    reader = PdfFileReader(out)
    assert reader.embedded_signatures[0].docmdp_level is None
    assert "/Perms" not in reader.root


def test_second_signature_gets_next_field_and_first_stays_valid(
    sample_pdf: Path,
    tmp_path: Path,
    ec_credential: Credential,
    rsa_credential: Credential,
    dev_root: x509.Certificate,
) -> None:
    first, second = tmp_path / "one.pdf", tmp_path / "two.pdf"
    sign_pdf(sample_pdf, first, ec_credential)
    result = sign_pdf(first, second, rsa_credential)
    assert result.field_name == "Signature2"
    reader = PdfFileReader(io.BytesIO(second.read_bytes()))
    context = ValidationContext(trust_roots=[dev_root])
    for signature in reader.embedded_signatures:
        status = validate_pdf_signature(signature, context)
        assert status.intact and status.valid and status.trusted


def test_streams_in_and_out(sample_pdf: Path, ec_credential: Credential) -> None:
    out = io.BytesIO()
    result = sign_pdf(io.BytesIO(sample_pdf.read_bytes()), out, ec_credential)
    assert hashlib.sha256(out.getvalue()).hexdigest() == result.digest_sha256


def test_wrong_pin_is_a_clear_error() -> None:
    with pytest.raises(WrongPinError, match="mã PIN không mở được"):
        load_credential(dev_p12_path(RSA_LABEL), "not-the-pin")
    with pytest.raises(WrongPinError, match="chưa nhập mã PIN"):
        load_credential(dev_p12_path(RSA_LABEL), None)


def test_unreadable_credential_is_a_credential_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.p12"
    garbage.write_bytes(b"not a pkcs12 file at all")
    with pytest.raises(CredentialError, match="không phải tệp PKCS#12") as raised:
        load_credential(garbage, DEV_PASSPHRASE)
    assert not isinstance(raised.value, WrongPinError)
    with pytest.raises(CredentialError, match="không đọc được"):
        load_credential(tmp_path / "missing.p12", DEV_PASSPHRASE)
    with pytest.raises(CredentialError, match="đường dẫn thư viện"):
        load_credential("pkcs11:token=congvan;object=agency-tpd", "1234")


def test_credential_exposes_agency_identity(rsa_credential: Credential) -> None:
    assert rsa_credential.organization_identifier == "DEV.TPD.000"
    assert rsa_credential.organization and "Tân Phú Đông" in rsa_credential.organization
    assert rsa_credential.common_name
    # intermediate first, then the root: the chain the verifier will build
    assert rsa_credential.chain[0].subject == rsa_credential.certificate.issuer
    assert rsa_credential.chain[-1].self_signed == "maybe"


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is not a PDF", b"%PDF-1.7\n%garbage without objects or xref\n"],
    ids=["empty", "text", "header-only"],
)
def test_non_pdf_input_is_unreadable(
    tmp_path: Path, ec_credential: Credential, content: bytes
) -> None:
    source = tmp_path / "in.pdf"
    source.write_bytes(content)
    with pytest.raises(UnreadablePdfError):
        sign_pdf(source, tmp_path / "out.pdf", ec_credential)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]


def test_truncated_pdf_is_unreadable(
    sample_pdf: Path, tmp_path: Path, ec_credential: Credential
) -> None:
    data = sample_pdf.read_bytes()
    source = tmp_path / "in.pdf"
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadablePdfError):
        sign_pdf(source, tmp_path / "out.pdf", ec_credential)


def test_encrypted_pdf_is_refused(tmp_path: Path, ec_credential: Credential) -> None:
    writer = PdfFileWriter()
    writer.encrypt("owner-secret", "user-secret")
    source = tmp_path / "encrypted.pdf"
    with source.open("wb") as stream:
        writer.write(stream)
    with pytest.raises(UnreadablePdfError, match="mã hóa"):
        sign_pdf(source, tmp_path / "out.pdf", ec_credential)


def test_missing_input_is_unreadable(tmp_path: Path, ec_credential: Credential) -> None:
    with pytest.raises(UnreadablePdfError, match="không đọc được"):
        sign_pdf(tmp_path / "nope.pdf", tmp_path / "out.pdf", ec_credential)


def test_tsa_down_names_the_url_and_leaves_no_output(
    sample_pdf: Path, tmp_path: Path, ec_credential: Credential
) -> None:
    url = _closed_port_url()
    out = tmp_path / "out.pdf"
    out.write_bytes(b"previous version")
    with pytest.raises(SigningError, match=url):
        sign_pdf(sample_pdf, out, ec_credential, SignOptions(level="b-t", tsa_url=url))
    # the old file is untouched and no temporary file is left behind
    assert out.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["out.pdf"]


def test_levels_above_b_b_need_tsa_and_trust(sample_pdf: Path, ec_credential: Credential) -> None:
    with pytest.raises(SigningError, match="tsa_url"):
        sign_pdf(sample_pdf, io.BytesIO(), ec_credential, SignOptions(level="b-t"))
    with pytest.raises(SigningError, match="trust roots"):
        sign_pdf(
            sample_pdf,
            io.BytesIO(),
            ec_credential,
            SignOptions(level="b-lt", tsa_url=DEV_TSA_URL),
        )


def test_b_lt_refuses_a_certificate_outside_the_trust_roots(
    dev: DevServices, sample_pdf: Path, tmp_path: Path, ec_credential: Credential
) -> None:
    rogue_root = x509.Certificate.load(
        pem.unarmor((dev_root_path().parent / "rogue-root.cert.pem").read_bytes())[2]
    )
    out = tmp_path / "out.pdf"
    with pytest.raises(SigningError, match="could not be validated"):
        sign_pdf(sample_pdf, out, ec_credential, _options("b-lt", rogue_root, dev))
    assert list(tmp_path.iterdir()) == []


def test_reserved_space_is_sized_from_the_chain_without_a_dry_run(
    dev: DevServices, sample_pdf: Path, ec_credential: Credential, dev_root: x509.Certificate
) -> None:
    """The /Contents placeholder is computed, and a real timestamped container fits in it."""
    out = io.BytesIO()
    sign_pdf(sample_pdf, out, ec_credential, _options("b-t", dev_root, dev))
    signature = PdfFileReader(out).embedded_signatures[0]
    reserved = len(signature.pkcs7_content)
    used = len(cms.ContentInfo.load(signature.pkcs7_content, strict=False).dump())
    assert reserved == signature_bytes_reserved(ec_credential, "b-t") // 2
    chain = sum(len(c.dump()) for c in (ec_credential.certificate, *ec_credential.chain))
    assert chain < used < reserved
