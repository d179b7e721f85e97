"""Revocation judged against time: signers and TSAs revoked before or after a proven time.

The development PKI has `bad-revoked` (a signer revoked 2025-03-01) and `bad-tsa-revoked` (a TSA
revoked 2025-06-01). Signatures and timestamps are made here at chosen past times with plain
pyHanko: a claimed signing time through the signing session, timestamps from an in-process TSA
holding the development TSA keys (certomancer's TSA with a fixed time). Revocation data comes from
the run's development services (online) or is embedded in the DSS (offline).
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import tsp
from certomancer.services import TimeStamper as CertomancerTimeStamper
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import DocumentSecurityStore

from signer.devpki import (
    DEV_CRL_URL,
    DEV_PASSPHRASE,
    DevServices,
    dev_ca_path,
    dev_cert_path,
    dev_key_path,
    dev_p12_path,
)
from signer.trust import TrustSettings
from signer.verification import VerificationReport, verify_pdf

SIGNER_REVOKED = datetime(2025, 3, 1, tzinfo=UTC)  # bad-revoked
TSA_REVOKED = datetime(2025, 6, 1, tzinfo=UTC)  # bad-tsa-revoked
BEFORE = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)  # before both revocations
BETWEEN = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)  # after the signer's, before the TSA's
AFTER = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)  # after both
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def sample(sample_pdf: Path) -> bytes:
    return sample_pdf.read_bytes()


class _TsaAt(TimeStamper):
    """A timestamping authority in this process, with the development key of a TSA label,
    answering with a fixed time (certomancer's TSA, which signs with ECDSA keys too)."""

    def __init__(self, label: str, at: datetime) -> None:
        super().__init__()
        self._service = CertomancerTimeStamper(
            tsa_cert=load_cert_from_pemder(str(dev_cert_path(label))),
            tsa_key=load_private_key_from_pemder(str(dev_key_path(label)), passphrase=None),
            certs_to_embed=[load_cert_from_pemder(str(dev_ca_path()))],
            fixed_dt=at,
        )

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self._service.request_tsa_response(req)


def tsa(label: str, at: datetime) -> TimeStamper:
    """A timestamping authority with the development key of `label`, answering with time `at`."""
    return _TsaAt(label, at)


class _SignerAt(signers.PdfSigner):
    """pyHanko's PdfSigner with a chosen claimed signing time (signed attribute and /M)."""

    def __init__(self, *args: Any, claimed: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claimed = claimed

    def init_signing_session(self, *args: Any, **kwargs: Any) -> Any:
        session = super().init_signing_session(*args, **kwargs)
        session.system_time = self._claimed
        return session


def sign(
    pdf: bytes, label: str, *, claimed: datetime, timestamper: TimeStamper | None = None
) -> bytes:
    """A PAdES signature by `label` claiming `claimed`, with a signature timestamp if given."""
    signer = signers.SimpleSigner.load_pkcs12(
        str(dev_p12_path(label)), passphrase=DEV_PASSPHRASE.encode()
    )
    assert signer is not None
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES)
    out = io.BytesIO()
    _SignerAt(meta, signer, timestamper=timestamper, claimed=claimed).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out
    )
    return out.getvalue()


def doc_timestamp(pdf: bytes, timestamper: TimeStamper, field: str) -> bytes:
    """A document timestamp (PAdES B-LTA's archive timestamp) over the whole file."""
    out = io.BytesIO()
    signers.PdfTimeStamper(timestamper, field_name=field).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256", output=out
    )
    return out.getvalue()


def with_dss_crl(pdf: bytes, dev: DevServices) -> bytes:
    """`pdf` with the development CA's current CRL (fetched from the run's services) in its DSS."""
    with urllib.request.urlopen(dev.relocate(DEV_CRL_URL), timeout=10) as response:
        current = asn1_crl.CertificateList.load(response.read())
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    DocumentSecurityStore.supply_dss_in_writer(writer, None, crls=[current])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


Verify = Callable[..., VerificationReport]


@pytest.fixture
def verify(dev_trust: TrustSettings) -> Verify:
    """Verify online unless asked, online checks sent to the run's development services."""

    def run(pdf: bytes, *, offline: bool = False) -> VerificationReport:
        return verify_pdf(pdf, trust=dev_trust, offline=offline)

    return run


def by_field(report: VerificationReport) -> dict[str, dict[str, Any]]:
    return {s.field: s.to_dict() for s in report.signatures}


# --- a signer revoked after the signature ------------------------------------------------------


def test_signature_timestamped_before_the_revocation_stays_valid(
    verify: Verify, sample: bytes, dev: DevServices
) -> None:
    signed = sign(sample, "bad-revoked", claimed=BEFORE, timestamper=tsa("tsa", BEFORE + HOUR))
    for pdf, offline in ((signed, False), (with_dss_crl(signed, dev), True)):
        report = verify(pdf, offline=offline)
        assert report.verdict == "passed", report.to_dict()
        (signature,) = report.signatures
        assert signature.revocation == "good", signature
        assert signature.timestamp == (BEFORE + HOUR).isoformat()


def test_signature_timestamped_after_the_revocation_fails(
    verify: Verify, sample: bytes, dev: DevServices
) -> None:
    signed = sign(sample, "bad-revoked", claimed=BETWEEN, timestamper=tsa("tsa", BETWEEN + HOUR))
    for pdf, offline in ((signed, False), (with_dss_crl(signed, dev), True)):
        report = verify(pdf, offline=offline)
        assert report.verdict == "failed", report.to_dict()
        (signature,) = report.signatures
        assert (signature.revocation, signature.subindication) == ("revoked", "REVOKED")
        assert "revoked on 2025-03-01" in report.reason


def test_claimed_time_before_the_revocation_timestamped_after_is_indeterminate(
    verify: Verify, sample: bytes
) -> None:
    """The signer says it signed in time; the only proof is later: nothing decides (ETSI)."""
    signed = sign(sample, "bad-revoked", claimed=BEFORE, timestamper=tsa("tsa", BETWEEN))
    report = verify(signed)
    assert report.verdict == "indeterminate", report.to_dict()
    (signature,) = report.signatures
    assert (signature.revocation, signature.subindication) == ("revoked", "REVOKED_NO_POE")
    assert "nothing proves" in signature.problems[0]


def test_bb_signature_claiming_a_time_before_the_revocation_is_indeterminate(
    verify: Verify, sample: bytes
) -> None:
    """B-B: the claimed signing time is the signer's word, and a stolen key can claim any time."""
    report = verify(sign(sample, "bad-revoked", claimed=BEFORE))
    assert report.verdict == "indeterminate", report.to_dict()
    (signature,) = report.signatures
    assert (signature.revocation, signature.subindication) == ("revoked", "REVOKED_NO_POE")
    assert BEFORE.isoformat() in signature.problems[0]


def test_bb_signature_claiming_a_time_after_the_revocation_fails(
    verify: Verify, sample: bytes
) -> None:
    report = verify(sign(sample, "bad-revoked", claimed=BETWEEN))
    assert report.verdict == "failed", report.to_dict()
    assert report.signatures[0].subindication == "REVOKED"


def test_document_timestamp_before_the_revocation_keeps_a_bb_signature_valid(
    verify: Verify, sample: bytes
) -> None:
    signed = sign(sample, "bad-revoked", claimed=BEFORE)
    stamped = doc_timestamp(signed, tsa("tsa", BEFORE + HOUR), "Archive1")
    report = verify(stamped)
    assert report.verdict == "passed", report.to_dict()
    fields = by_field(report)
    assert fields["Signature1"]["revocation"] == "good"
    assert fields["Archive1"]["revocation"] == "good"  # the TSA's certificate


def test_document_timestamp_after_the_revocation_proves_nothing(
    verify: Verify, sample: bytes
) -> None:
    signed = sign(sample, "bad-revoked", claimed=BEFORE)
    report = verify(doc_timestamp(signed, tsa("tsa", BETWEEN), "Archive1"))
    assert report.verdict == "indeterminate", report.to_dict()
    assert by_field(report)["Signature1"]["subindication"] == "REVOKED_NO_POE"


# --- a timestamping authority whose certificate is revoked --------------------------------------


def test_signature_timestamp_from_a_revoked_tsa_fails(
    verify: Verify, sample: bytes, dev: DevServices
) -> None:
    signed = sign(sample, "agency-tpd", claimed=AFTER, timestamper=tsa("bad-tsa-revoked", AFTER))
    for pdf, offline in ((signed, False), (with_dss_crl(signed, dev), True)):
        report = verify(pdf, offline=offline)
        assert report.verdict == "failed", report.to_dict()
        (signature,) = report.signatures
        assert signature.revocation == "good"  # the signer's own certificate
        assert signature.subindication == "REVOKED"
        assert "signature timestamp" in report.reason and "timestamp authority" in report.reason


def test_revoked_tsa_offline_without_embedded_data_is_not_checked(
    verify: Verify, sample: bytes
) -> None:
    """The contract: offline and nothing embedded is `not_checked`, never a failure."""
    signed = sign(sample, "agency-tpd", claimed=AFTER, timestamper=tsa("bad-tsa-revoked", AFTER))
    report = verify(signed, offline=True)
    assert report.verdict == "passed", report.to_dict()


def test_document_timestamp_from_a_revoked_tsa_fails(verify: Verify, sample: bytes) -> None:
    signed = sign(sample, "agency-tpd", claimed=AFTER)
    report = verify(doc_timestamp(signed, tsa("bad-tsa-revoked", AFTER + HOUR), "Archive1"))
    assert report.verdict == "failed", report.to_dict()
    assert report.reason.startswith("Document timestamp 'Archive1' failed")
    archive = by_field(report)["Archive1"]
    assert (archive["revocation"], archive["subindication"]) == ("revoked", "REVOKED")
    assert by_field(report)["Signature1"]["verdict"] == "passed"


def test_timestamp_from_a_tsa_revoked_later_needs_a_later_proof(
    verify: Verify, sample: bytes
) -> None:
    """A TSA's key may be used to backdate once compromised: its genTime alone proves nothing."""
    claimed = TSA_REVOKED - timedelta(days=40)
    signed = sign(sample, "agency-tpd", claimed=claimed)
    early = doc_timestamp(signed, tsa("bad-tsa-revoked", claimed + HOUR), "Archive1")
    report = verify(early)
    assert report.verdict == "indeterminate", report.to_dict()
    assert by_field(report)["Archive1"]["subindication"] == "REVOKED_NO_POE"
    assert report.reason.startswith("Document timestamp 'Archive1' is indeterminate")

    # A later timestamp from a sound TSA, still before the revocation, proves it in time.
    later = doc_timestamp(early, tsa("tsa", TSA_REVOKED - timedelta(days=10)), "Archive2")
    report = verify(later)
    assert report.verdict == "passed", report.to_dict()
    assert by_field(report)["Archive1"]["revocation"] == "good"


def test_signature_timestamp_from_a_tsa_revoked_later_proven_by_a_document_timestamp(
    verify: Verify, sample: bytes
) -> None:
    claimed = TSA_REVOKED - timedelta(days=40)
    signed = sign(
        sample, "agency-tpd", claimed=claimed, timestamper=tsa("bad-tsa-revoked", claimed)
    )
    assert verify(signed).verdict == "indeterminate"
    stamped = doc_timestamp(signed, tsa("tsa", claimed + timedelta(days=1)), "Archive1")
    report = verify(stamped)
    assert report.verdict == "passed", report.to_dict()
