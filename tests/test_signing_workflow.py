"""Two signatures in sequence, the way a document is issued: official first, then the agency."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, DEV_TSA_URL, DevServices, dev_p12_path
from signer.errors import SigningError
from signer.signing import sign_pdf
from signer.trust import load_trust
from signer.verification import verify_pdf
from tests.support.devservices import dev_sign_options


def _sign(source: Path, output: Path, label: str, level: str, field: str, dev: DevServices) -> None:
    trust = load_trust(development=True)
    sign_pdf(
        source,
        output,
        load_credential(dev_p12_path(label), DEV_PASSPHRASE),
        dev_sign_options(
            dev,
            level=level,  # type: ignore[arg-type]
            field_name=field,
            tsa_url=DEV_TSA_URL,
            trust_roots=trust.roots,
        ),
    )


def test_agency_b_lt_captures_revocation_data_for_the_officials_signature_too(
    sample_pdf: Path, tmp_path: Path, dev: DevServices
) -> None:
    official = tmp_path / "official.pdf"
    issued = tmp_path / "issued.pdf"
    _sign(sample_pdf, official, "official-tpd-chutich", "b-t", "ChuKyLanhDao", dev)
    _sign(official, issued, "agency-tpd", "b-lt", "ChuKyCoQuan", dev)

    before = verify_pdf(official, trust=load_trust(development=True), offline=True)
    assert before.signatures[0].revocation == "not_checked"

    report = verify_pdf(issued, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", report.reason
    by_field = {s.field: s for s in report.signatures}
    assert by_field["ChuKyLanhDao"].revocation == "good"
    assert by_field["ChuKyLanhDao"].pades_level == "B-LT"
    assert by_field["ChuKyCoQuan"].revocation == "good"
    assert by_field["ChuKyCoQuan"].pades_level == "B-LT"


def test_agency_b_lta_timestamps_after_all_revocation_data(
    sample_pdf: Path, tmp_path: Path, dev: DevServices
) -> None:
    official = tmp_path / "official.pdf"
    issued = tmp_path / "issued.pdf"
    _sign(sample_pdf, official, "official-tpd-phochutich", "b-t", "ChuKyLanhDao", dev)
    _sign(official, issued, "agency-tpd", "b-lta", "ChuKyCoQuan", dev)
    report = verify_pdf(issued, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", report.reason
    levels = {s.field: s.pades_level for s in report.signatures if s.kind == "signature"}
    # The document timestamp covers the DSS of both signatures: both are archival now.
    assert levels == {"ChuKyLanhDao": "B-LTA", "ChuKyCoQuan": "B-LTA"}


def test_issuing_over_a_revoked_officials_signature_is_refused(
    sample_pdf: Path, tmp_path: Path, dev: DevServices
) -> None:
    official = tmp_path / "official.pdf"
    issued = tmp_path / "issued.pdf"
    _sign(sample_pdf, official, "bad-revoked", "b-b", "ChuKyLanhDao", dev)
    with pytest.raises(SigningError, match="chữ ký đã có"):
        _sign(official, issued, "agency-tpd", "b-lt", "ChuKyCoQuan", dev)
    assert not issued.exists()
