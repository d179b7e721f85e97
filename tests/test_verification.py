"""The verifier's verdicts on documents signed with the development PKI, and its JSON contract."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from exchange.cli.database import load_file_trust
from exchange.config import development_from_env
from signer.credentials import load_credential
from signer.devpki import (
    DEV_PASSPHRASE,
    DEV_TSA_URL,
    DevServices,
    dev_cert_path,
    dev_crl_path,
    dev_p12_path,
)
from signer.errors import SignerError, UnreadablePdfError, VerificationTimeoutError
from signer.reports import render_text
from signer.signing import sign_pdf
from signer.trust import TrustSettings, load_trust
from signer.verification import VerificationReport, speedups, verify_pdf
from tests.support.devservices import dev_sign_options

Sign = Callable[..., Path]

REPORT_KEYS = {"file", "verdict", "reason", "modified_after_signing", "signatures"}
SIGNATURE_KEYS = {
    "field",
    "signer",
    "signed_at",
    "timestamp",
    "integrity",
    "trusted",
    "revocation",
    "coverage",
    "modifications",
    "pades_level",
    "verdict",
    "subindication",
    "problems",
}
SIGNER_KEYS = {"common_name", "organization", "serial", "issuer"}


@pytest.fixture(scope="module")
def make_signed(
    tmp_path_factory: pytest.TempPathFactory,
    sample_pdf: Path,
    trust: TrustSettings,
    dev: DevServices,
) -> Sign:
    """Sign with a development credential through congvan's own signer; returns the output path.

    B-T and later levels need the development TSA (and B-LT its OCSP/CRL), hence `dev`: in
    development, their requests go to the run's services.
    """
    directory = tmp_path_factory.mktemp("signed")
    counter = iter(range(10_000))

    def sign(label: str, level: str = "b-b", source: Path | None = None, **options: object) -> Path:
        output = directory / f"{label}-{level}-{next(counter)}.pdf"
        credential = load_credential(dev_p12_path(label), DEV_PASSPHRASE)
        sign_pdf(
            source or sample_pdf,
            output,
            credential,
            dev_sign_options(
                dev,
                level=level,
                tsa_url=None if level == "b-b" else DEV_TSA_URL,
                trust_roots=trust.roots,
                **options,  # type: ignore[arg-type]
            ),
        )
        return output

    return sign


@pytest.fixture(scope="module")
def signed_bb(make_signed: Sign) -> Path:
    return make_signed("agency-tpd")


def only(report: VerificationReport) -> dict[str, object]:
    assert len(report.signatures) == 1, report.to_dict()
    return report.signatures[0].to_dict()


# --- passing documents


def test_bb_offline_passes_with_revocation_not_checked(
    signed_bb: Path, trust: TrustSettings
) -> None:
    report = verify_pdf(signed_bb, trust=trust, offline=True)
    signature = only(report)
    assert report.verdict == "passed", report.to_dict()
    assert report.modified_after_signing is False
    assert signature["revocation"] == "not_checked"
    assert signature["coverage"] == "entire_file"
    assert signature["pades_level"] == "B-B"
    assert signature["subindication"] == "TOTAL_PASSED"
    assert signature["signer"]["organization_identifier"] == "DEV.TPD.000"  # type: ignore[index]


def test_blt_offline_is_good_from_embedded_data(make_signed: Sign, trust: TrustSettings) -> None:
    report = verify_pdf(make_signed("agency-tpd", "b-lt"), trust=trust, offline=True)
    signature = only(report)
    assert report.verdict == "passed", report.to_dict()
    assert signature["revocation"] == "good"
    assert signature["pades_level"] == "B-LT"
    assert signature["timestamp"] is not None
    # The DSS update follows the signature: permitted, and reported as such.
    assert signature["coverage"] == "entire_revision"
    assert signature["modifications"] == "dss_and_timestamps"


def test_online_revocation_against_dev_services_is_good(
    signed_bb: Path, dev_trust: TrustSettings
) -> None:
    report = verify_pdf(signed_bb, trust=dev_trust, offline=False)
    assert report.verdict == "passed", report.to_dict()
    assert only(report)["revocation"] == "good"


def test_official_then_agency_signatures_both_pass(make_signed: Sign, trust: TrustSettings) -> None:
    official = make_signed("official-tpd-phochutich", "b-t")
    issued = make_signed("agency-tpd", "b-t", source=official)
    report = verify_pdf(issued, trust=trust, offline=True)
    assert report.verdict == "passed", report.to_dict()
    first, second = report.signatures
    assert first.signer is not None and second.signer is not None
    assert (first.verdict, second.verdict) == ("passed", "passed")
    assert first.modifications == "form_filling"
    assert second.coverage == "entire_file"
    assert first.signer.organization == second.signer.organization


def test_document_timestamp_is_reported_as_its_own_entry(
    make_signed: Sign, trust: TrustSettings
) -> None:
    report = verify_pdf(make_signed("agency-tpd", "b-lta"), trust=trust, offline=True)
    assert report.verdict == "passed", report.to_dict()
    kinds = [s.kind for s in report.signatures]
    assert kinds == ["signature", "document_timestamp"]
    signature, timestamp = report.signatures
    assert signature.pades_level == "B-LTA"
    assert timestamp.verdict == "passed"
    assert timestamp.timestamp is not None
    assert timestamp.signer is not None and "Time Stamping" in timestamp.signer.common_name


def test_json_shape_is_the_contract(signed_bb: Path, trust: TrustSettings) -> None:
    data = verify_pdf(signed_bb, trust=trust, offline=True).to_dict()
    assert set(data) >= REPORT_KEYS
    assert data["verdict"] in ("passed", "failed", "indeterminate")
    assert isinstance(data["reason"], str) and "\n" not in data["reason"]
    (signature,) = data["signatures"]
    assert set(signature) >= SIGNATURE_KEYS
    assert set(signature["signer"]) >= SIGNER_KEYS
    assert all(isinstance(signature["signer"][key], str) for key in SIGNER_KEYS)
    int(signature["signer"]["serial"], 16)
    assert isinstance(signature["problems"], list)
    assert isinstance(signature["integrity"], bool) and isinstance(signature["trusted"], bool)
    assert signature["signed_at"].endswith("+00:00")


def test_bytes_and_streams_verify_like_paths(signed_bb: Path, trust: TrustSettings) -> None:
    data = signed_bb.read_bytes()
    from_bytes = verify_pdf(data, trust=trust, offline=True)
    from_stream = verify_pdf(io.BytesIO(data), trust=trust, offline=True)
    assert from_bytes.verdict == from_stream.verdict == "passed"


# --- failing certificates


@pytest.mark.parametrize(
    ("label", "subindications"),
    [
        ("rogue-agency-tpd", ("CERTIFICATE_CHAIN_GENERAL_FAILURE", "NO_CERTIFICATE_CHAIN_FOUND")),
        ("bad-expired", ("EXPIRED",)),
        ("bad-keyusage", ("CHAIN_CONSTRAINTS_FAILURE",)),
    ],
)
def test_bad_certificates_fail(
    make_signed: Sign, trust: TrustSettings, label: str, subindications: tuple[str, ...]
) -> None:
    report = verify_pdf(make_signed(label), trust=trust, offline=True)
    signature = only(report)
    assert report.verdict == "failed", report.to_dict()
    assert signature["trusted"] is False
    assert signature["integrity"] is True
    assert signature["subindication"] in subindications
    assert signature["problems"]


def test_rogue_root_with_the_same_name_is_not_trusted_even_next_to_the_real_one(
    make_signed: Sign, trust: TrustSettings
) -> None:
    # The rogue root's subject equals the real root's: trust must follow the key, not the name.
    rogue = load_certificate_subject("rogue-root")
    real = load_certificate_subject("vn-dev-root")
    assert rogue == real
    report = verify_pdf(make_signed("rogue-agency-tpd"), trust=trust, offline=True)
    assert report.verdict == "failed"
    assert any(word in report.reason for word in ("root", "chain", "trust"))


def load_certificate_subject(label: str) -> str:
    from signer.trust import load_certificates

    (cert,) = load_certificates(dev_cert_path(label))
    return str(cert.subject.human_friendly)


def test_revoked_online_fails(make_signed: Sign, dev_trust: TrustSettings) -> None:
    report = verify_pdf(make_signed("bad-revoked"), trust=dev_trust, offline=False)
    signature = only(report)
    assert report.verdict == "failed", report.to_dict()
    assert signature["revocation"] == "revoked"
    assert signature["subindication"] == "REVOKED"


def test_revoked_offline_from_embedded_crl_fails(
    make_signed: Sign, trust: TrustSettings, tmp_path: Path
) -> None:
    signed = make_signed("bad-revoked")
    buffer = io.BytesIO(signed.read_bytes())
    contents = PdfFileReader(buffer).embedded_signatures[0].pkcs7_content
    revoked_list = asn1_crl.CertificateList.load(dev_crl_path().read_bytes())
    # The committed CRL lists bad-revoked; pyHanko appends it in a DSS incremental update.
    DocumentSecurityStore.add_dss(buffer, contents, crls=[revoked_list])
    report = verify_pdf(buffer.getvalue(), trust=trust, offline=True)
    signature = only(report)
    assert report.verdict == "failed", report.to_dict()
    assert signature["revocation"] == "revoked"


def test_revoked_offline_without_embedded_data_is_not_checked(
    make_signed: Sign, trust: TrustSettings
) -> None:
    report = verify_pdf(make_signed("bad-revoked"), trust=trust, offline=True)
    assert only(report)["revocation"] == "not_checked"


def test_online_without_any_revocation_source_is_indeterminate(
    sample_pdf: Path, tmp_path: Path
) -> None:
    # A trusted chain whose leaf names no CRL or OCSP: online, its status cannot be established.
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root Without CRL")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Văn Thử")])

    def build(subject: x509.Name, key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        usage = (
            (False, False, False, False, False, True, True, False, False)
            if ca
            else (True, True, False, False, False, False, False, False, False)
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(*usage), critical=True)
            .sign(root_key, hashes.SHA256())
        )

    root = build(root_name, root_key, ca=True)
    leaf = build(leaf_name, leaf_key, ca=False)
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(leaf.public_bytes(serialization.Encoding.DER)),
        signing_key=keys.PrivateKeyInfo.load(
            leaf_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        cert_registry=SimpleCertificateStore(),
    )
    output = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sample_pdf.read_bytes())),
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=signer,
        output=output,
    )
    trust = TrustSettings(
        roots=(asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER)),),
        development=False,
    )
    online = verify_pdf(output.getvalue(), trust=trust, offline=False)
    assert online.verdict == "indeterminate", online.to_dict()
    assert only(online)["revocation"] == "unknown"
    assert only(online)["subindication"] == "TRY_LATER"
    offline = verify_pdf(output.getvalue(), trust=trust, offline=True)
    assert offline.verdict == "passed", offline.to_dict()
    assert only(offline)["revocation"] == "not_checked"


def test_production_mode_does_not_trust_the_dev_root(signed_bb: Path) -> None:
    production = load_trust(development=False)
    assert production.roots == ()
    report = verify_pdf(signed_bb, trust=production, offline=True)
    assert report.verdict == "failed"
    assert only(report)["trusted"] is False


# --- unsigned and unreadable input


def test_unsigned_pdf_fails_with_no_signature(sample_pdf: Path, trust: TrustSettings) -> None:
    report = verify_pdf(sample_pdf, trust=trust, offline=True)
    assert report.verdict == "failed"
    assert "no signature" in report.reason
    assert report.signatures == ()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not a PDF at all\n" * 20,
        b"%PDF-1.7\n",
    ],
    ids=["empty", "not-a-pdf", "header-only"],
)
def test_unreadable_input_raises(data: bytes, trust: TrustSettings) -> None:
    with pytest.raises(UnreadablePdfError):
        verify_pdf(data, trust=trust, offline=True)


def test_truncated_signed_pdf_raises(signed_bb: Path, trust: TrustSettings) -> None:
    data = signed_bb.read_bytes()
    with pytest.raises(UnreadablePdfError):
        verify_pdf(data[: len(data) // 2], trust=trust, offline=True)


def test_deep_nesting_is_unreadable_within_seconds(trust: TrustSettings) -> None:
    depth = 200_000
    body = b"[" * depth + b"]" * depth
    pdf = (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /X " + body + b" >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    )
    xref = len(pdf)
    pdf += (
        b"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n"
        + f"{pdf.index(b'2 0 obj'):010d} 00000 n \n".encode()
        + b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n"
        + str(xref).encode()
        + b"\n%%EOF\n"
    )
    started = time.monotonic()
    with pytest.raises(UnreadablePdfError):
        verify_pdf(pdf, trust=trust, offline=True)
    assert time.monotonic() - started < 5


# --- time limit


def test_time_limit_stops_a_verification_from_a_worker_thread(
    make_signed: Sign, trust: TrustSettings, slow_pdf: bytes
) -> None:
    document = make_signed("agency-tpd", "b-lta").read_bytes()

    def verify(timeout: float, data: bytes = document) -> VerificationReport:
        return verify_pdf(data, trust=trust, offline=True, timeout=timeout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        with pytest.raises(VerificationTimeoutError):
            # About a second's work: a busy machine cannot finish it within the limit.
            pool.submit(verify, 0.1, slow_pdf).result(timeout=10)
        # The same worker threads keep working afterwards, with no stray exception pending.
        assert pool.submit(verify, 30).result(timeout=30).verdict == "passed"
        assert pool.submit(verify, 30).result(timeout=30).verdict == "passed"
    assert threading.active_count() < 10


def test_time_limit_is_an_unreadable_pdf_error_for_callers(trust: TrustSettings) -> None:
    assert issubclass(VerificationTimeoutError, UnreadablePdfError)


# --- human report


def test_text_report_is_vietnamese(signed_bb: Path, sample_pdf: Path, trust: TrustSettings) -> None:
    passed = render_text(verify_pdf(signed_bb, trust=trust, offline=True))
    assert "Kết quả: HỢP LỆ" in passed
    for label in ("Người ký", "Cơ quan", "Thời điểm ký", "Dấu thời gian", "Chứng thư tin cậy"):
        assert label in passed
    assert "Thu hồi: chưa kiểm tra" in passed
    assert "Ủy ban nhân dân huyện Tân Phú Đông" in passed
    unsigned = render_text(verify_pdf(sample_pdf, trust=trust, offline=True))
    assert "Kết quả: KHÔNG HỢP LỆ" in unsigned
    assert "không có chữ ký số" in unsigned


# --- trust settings


def test_trust_files_with_several_certificates(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        dev_cert_path("vn-dev-root").read_bytes() + dev_cert_path("rogue-root").read_bytes()
    )
    trust = load_trust([bundle], development=False)
    assert len(trust.roots) == 2
    assert trust.development is False


def test_unreadable_trust_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match=r"missing\.pem"):
        load_trust([tmp_path / "missing.pem"], development=False)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    with pytest.raises(SignerError, match=r"garbage\.pem"):
        load_trust([garbage], development=False)


def test_development_mode_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exchange's settings read CONGVAN_ENV (exchange/config.py); the library is told."""
    monkeypatch.delenv("CONGVAN_ENV", raising=False)
    assert development_from_env() is True
    monkeypatch.setenv("CONGVAN_ENV", "production")
    assert development_from_env() is False
    assert load_file_trust().roots == ()
    # The library reads no variable: unless told it is development, it trusts no development root.
    monkeypatch.setenv("CONGVAN_ENV", "development")
    assert load_trust().roots == ()


# --- speedups keep pyHanko's semantics


@pytest.mark.parametrize(
    "text",
    [b"<>", b"<41>", b"<4>", b"<41 42\n43>", b"<6a6B>", b"<41 % comment\n42>", b"<4G>", b"<41"],
)
def test_fast_hex_reader_matches_pyhanko(text: bytes) -> None:
    def read(function: Callable[[io.BytesIO], object]) -> object:
        stream = io.BytesIO(text + b" trailing")
        try:
            value = function(stream)
        except Exception as error:
            return type(error)
        return (value, stream.tell())

    original = speedups._original
    assert read(speedups.read_hex_string_fast) == read(original)


def test_fast_hex_reader_is_installed() -> None:
    assert generic.read_hex_string_from_stream is speedups.read_hex_string_fast
