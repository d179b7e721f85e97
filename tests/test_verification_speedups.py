"""The verifier's memoised certificate extraction returns exactly what pyHanko's would."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from asn1crypto import cms, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import CMSExtractionError, SignedDataCerts
from pyhanko.sign.validation import generic_cms

from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, dev_p12_path
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import speedups, verify_pdf

SAMPLE = Path(__file__).resolve().parent / "data" / "cong-van-cai-cach-hanh-chinh.pdf"


def _signed_data(label: str, tmp_path: Path) -> cms.SignedData:
    output = tmp_path / f"{label}.pdf"
    sign_pdf(SAMPLE, output, load_credential(dev_p12_path(label), DEV_PASSPHRASE), SignOptions())
    reader = PdfFileReader(io.BytesIO(output.read_bytes()))
    contents = reader.embedded_signatures[0].pkcs7_content
    return cms.ContentInfo.load(contents)["content"]  # fresh objects, as in each verification


def _fresh(signed_data: cms.SignedData) -> cms.SignedData:
    return cms.ContentInfo.load(
        cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    )["content"]


def _encodings(info: SignedDataCerts) -> tuple[bytes, list[bytes], list[bytes]]:
    return (
        info.signer_cert.dump(),
        [cert.dump() for cert in info.other_certs],
        [cert.dump() for cert in info.attribute_certs],
    )


@pytest.mark.parametrize("label", ["agency-tpd", "official-tpd-phochutich", "rogue-agency-tpd"])
def test_certificate_info_memo_matches_pyhanko(label: str, tmp_path: Path) -> None:
    signed_data = _signed_data(label, tmp_path)
    expected = _encodings(speedups._original_extract(_fresh(signed_data)))
    first = speedups.extract_certificate_info_interned(_fresh(signed_data))
    second = speedups.extract_certificate_info_interned(_fresh(signed_data))  # from the memo
    assert _encodings(first) == expected
    assert _encodings(second) == expected
    assert second.signer_cert is first.signer_cert  # parsed once, shared
    second.other_certs.clear()  # a caller's list is its own
    assert _encodings(speedups.extract_certificate_info_interned(_fresh(signed_data))) == expected


def test_certificate_info_memo_keeps_pyhankos_errors(tmp_path: Path) -> None:
    signed_data = _signed_data("agency-tpd", tmp_path)
    speedups.extract_certificate_info_interned(_fresh(signed_data))  # warm the memo
    signer_dropped = _fresh(signed_data)
    signer_cert = speedups._original_extract(_fresh(signed_data)).signer_cert
    signer_dropped["certificates"] = cms.CertificateSet(
        [c for c in signer_dropped["certificates"] if c.chosen.dump() != signer_cert.dump()]
    )
    signer_dropped = _fresh(signer_dropped)
    with pytest.raises(CMSExtractionError):
        speedups._original_extract(signer_dropped)
    with pytest.raises(CMSExtractionError):
        speedups.extract_certificate_info_interned(signer_dropped)


def test_a_mutated_remembered_certificate_is_not_handed_out(tmp_path: Path) -> None:
    signed_data = _signed_data("agency-tpd", tmp_path)
    remembered = speedups.extract_certificate_info_interned(_fresh(signed_data)).signer_cert
    encoding = remembered.dump()
    cert = x509.Certificate.load(encoding)
    assert speedups._interned(cert) is remembered
    remembered["tbs_certificate"]["serial_number"] = 1
    try:
        assert speedups._interned(cert) is cert
    finally:
        speedups._cert_memo.pop(encoding, None)
        speedups._cert_info_memo.clear()


def test_same_subject_from_an_unknown_root_still_fails_after_the_real_one(tmp_path: Path) -> None:
    trust = load_trust(development=True)
    for label, verdict in [("agency-tpd", "passed"), ("rogue-agency-tpd", "failed")] * 2:
        output = tmp_path / f"{label}.pdf"
        credential = load_credential(dev_p12_path(label), DEV_PASSPHRASE)
        sign_pdf(SAMPLE, output, credential, SignOptions())
        assert verify_pdf(output, trust=trust, offline=True).verdict == verdict


def test_certificate_memo_is_installed() -> None:
    assert generic_cms.extract_certificate_info is speedups.extract_certificate_info_interned


NAME_CASES = [
    b"/Type ",
    b"/Type/Sig",
    b"/A#20B ",
    b"/A#2",
    b"/#41#42 ",
    b"/caf\xc3\xa9 ",
    b"/x\x01y ",
    b"/Long" + b"N" * 200 + b">>",
    b"/End",
    b"/ ",
    b"/A%comment\n",
    b"/A(",
    b"/a[1]",
    b"/\xff ",
]


@pytest.mark.parametrize("text", NAME_CASES)
def test_fast_name_reading_matches_pyhanko(text: bytes) -> None:
    from pyhanko.pdf_utils import generic

    def read(until: object, decode: object) -> object:
        stream = io.BytesIO(text)
        saved = generic.read_until_delimiter, generic._decode_name  # type: ignore[attr-defined]
        generic.read_until_delimiter, generic._decode_name = until, decode  # type: ignore[attr-defined]
        try:
            value = generic.NameObject.read_from_stream(stream)
        except Exception as error:
            return type(error)
        finally:
            generic.read_until_delimiter, generic._decode_name = saved  # type: ignore[attr-defined]
        return (value, type(value), stream.tell())

    fast = read(speedups.read_until_delimiter_fast, speedups.decode_name_fast)
    assert fast == read(speedups._original_read_until_delimiter, speedups._original_decode_name)


def test_remembering_signature_validator_never_remembers_a_failure(tmp_path: Path) -> None:
    from cryptography.exceptions import InvalidSignature

    signed_data = _signed_data("agency-tpd", tmp_path)
    info = speedups._original_extract(_fresh(signed_data))
    cert = info.signer_cert
    candidates = [c for c in info.other_certs if c.subject == cert.issuer]
    issuer = candidates[0]
    tbs = cert["tbs_certificate"].dump()
    signature = cert["signature_value"].native
    algorithm = cert["signature_algorithm"]
    validator = speedups.RememberingSignatureValidator()
    for _ in range(2):
        validator.validate_signature(signature, tbs, issuer.public_key, algorithm)
    assert len(validator._verified) == 1
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            validator.validate_signature(forged, tbs, issuer.public_key, algorithm)
    with pytest.raises(InvalidSignature):  # same signature, other signed bytes
        validator.validate_signature(
            signature, tbs[:-1] + bytes([tbs[-1] ^ 1]), issuer.public_key, algorithm
        )


def test_signing_certificate_check_memo_never_remembers_a_mismatch(tmp_path: Path) -> None:
    from pyhanko.sign.validation.errors import SignatureValidationError

    signed_data = _signed_data("agency-tpd", tmp_path)
    other = _signed_data("agency-tanthoi", tmp_path)
    attrs = signed_data["signer_infos"][0]["signed_attrs"]
    own = speedups._original_extract(_fresh(signed_data)).signer_cert
    stranger = speedups._original_extract(_fresh(other)).signer_cert
    for _ in range(2):
        speedups.check_signing_certificate_once(own, attrs)
    for _ in range(2):  # the stranger's certificate never matches these signed attributes
        with pytest.raises(SignatureValidationError):
            speedups.check_signing_certificate_once(stranger, attrs)
    assert (own.dump(), attrs.dump()) in speedups._checked_signing_certificates
    assert (stranger.dump(), attrs.dump()) not in speedups._checked_signing_certificates


@pytest.mark.parametrize(
    "text",
    [
        b"[]",
        b"[ ]",
        b"[250 333 500.5 -12 +7 .5 -.25 3. 007]",
        b"[\x00 1\t2\r\n3\x0c]",
        b"[1 2 3]/Next",
        b"[" + b" 600" * 5000 + b"]",  # longer than the fast reader's window
        b"[ 12 0 R 13 0 R ]",  # references
        b"[1 0 R]",
        b"[1 2 % comment\n 3]",
        b"[1 [2 3] 4]",
        b"[1 /Name 2]",
        b"[1.2.3]",
        b"[1-2]",
        b"[1 2",  # unterminated
    ],
)
def test_number_arrays_read_as_pyhanko_reads_them(text: bytes) -> None:
    def read(reader: object) -> tuple[object, int]:
        stream = io.BytesIO(text)
        try:
            result = reader(stream, "container")  # type: ignore[operator]
        except Exception as error:
            return type(error), -1
        return (
            [(type(item), item, getattr(item, "container_ref", None)) for item in result],
            stream.tell(),
        )

    assert read(speedups.read_array_fast) == read(speedups._original_read_array)
