"""Signed status receipts: signing, strict verification, the CLI, and checks by other software."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import cms

from signer import receipts
from signer.credentials import Credential, load_credential
from signer.devpki import DEV_PASSPHRASE, dev_p12_path, dev_root_path
from signer.receipts import (
    ReceiptContent,
    ReceiptError,
    UnreadableReceiptError,
    read_receipt,
    sign_receipt,
    verify_receipt,
)
from signer.trust import TrustSettings, load_trust
from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
AT = datetime(2026, 3, 2, 1, 30, 15, 250000, tzinfo=UTC)
CHECKED = AT + timedelta(minutes=1)
DOCUMENT = b"%PDF-1.7 a document the district sent\n"
DISTRICT = ("DEV.TPD.000", "Ủy ban nhân dân huyện Tân Phú Đông")
TAN_THOI = ("DEV.TPD.X01", "Ủy ban nhân dân xã Tân Thới")


def make_content(
    *,
    receiver: tuple[str, str] = TAN_THOI,
    sender: tuple[str, str] = DISTRICT,
    status: str = "03",
    reason: str | None = None,
    at: datetime = AT,
) -> ReceiptContent:
    return ReceiptContent(
        document_sha256=hashlib.sha256(DOCUMENT).hexdigest(),
        document_number="12/UBND-VP",
        delivery_id="42",
        status=status,
        reason=reason,
        at=at,
        sender_code=sender[0],
        sender_name=sender[1],
        receiver_code=receiver[0],
        receiver_name=receiver[1],
    )


def credential(label: str) -> Credential:
    return load_credential(dev_p12_path(label), DEV_PASSPHRASE)


@pytest.fixture(scope="module")
def tanthoi_receipt() -> bytes:
    return sign_receipt(make_content(), credential("agency-tanthoi"), now=AT)


def signature_algorithm(data: bytes) -> str:
    signed_data = cms.ContentInfo.load(data)["content"]
    return str(signed_data["signer_infos"][0]["signature_algorithm"]["algorithm"].native)


# --- signing and verifying ---------------------------------------------------------------------


def test_receipt_signed_by_the_receiving_agency_passes(
    tanthoi_receipt: bytes, trust: TrustSettings
) -> None:
    result = verify_receipt(tanthoi_receipt, trust=trust, now=CHECKED)

    assert result.verdict == "passed", result.problems
    assert result.problems == ()
    assert result.content == make_content()
    assert result.signer is not None
    assert result.signer.organization_identifier == "DEV.TPD.X01"
    assert result.signer.organization == "Ủy ban nhân dân xã Tân Thới"
    assert result.signed_at == AT.replace(microsecond=0)
    assert result.revocation == "not_checked"
    assert signature_algorithm(tanthoi_receipt) == "rsassa_pss"
    report = result.to_dict()
    assert report["content"]["at"] == "2026-03-02T01:30:15.250000Z"
    assert report["signer"]["serial"] == result.signer.serial
    json.dumps(report)  # JSON-ready


def test_receipt_is_self_contained_canonical_json(tanthoi_receipt: bytes) -> None:
    payload = cms.ContentInfo.load(tanthoi_receipt)["content"]["encap_content_info"]["content"]
    document = json.loads(payload.native)
    assert document["format"] == "congvan-receipt/1"
    assert document["status"] == "03" and document["receiver_code"] == "DEV.TPD.X01"
    assert payload.native == make_content().to_bytes()
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert payload.native == canonical.encode("utf-8")
    assert read_receipt(tanthoi_receipt) == make_content()


def test_ecdsa_receipt_passes(trust: TrustSettings) -> None:
    # The dev agency keys are RSA; this official holds a P-256 key and the district's identifier.
    data = sign_receipt(
        make_content(receiver=DISTRICT, sender=TAN_THOI),
        credential("official-tpd-phochutich"),
        now=AT,
    )
    assert signature_algorithm(data) == "sha256_ecdsa"
    result = verify_receipt(data, trust=trust, now=CHECKED)
    assert result.verdict == "passed", result.problems
    assert result.signer is not None and result.signer.common_name == "Trần Thị Hồng Nhung"


def test_refusal_receipt_carries_its_reason(trust: TrustSettings) -> None:
    content = make_content(status="02", reason="Văn bản gửi nhầm nơi nhận.\nĐề nghị gửi lại.")
    data = sign_receipt(content, credential("agency-tanthoi"), now=AT)
    result = verify_receipt(data, trust=trust, now=CHECKED)
    assert result.verdict == "passed"
    assert result.content is not None and result.content.reason == content.reason


def test_content_changed_inside_the_signed_receipt_fails(
    tanthoi_receipt: bytes, trust: TrustSettings
) -> None:
    forged = tanthoi_receipt.replace(b'"status":"03"', b'"status":"06"')
    assert forged != tanthoi_receipt

    result = verify_receipt(forged, trust=trust, now=CHECKED)

    assert result.verdict == "failed"
    assert result.reason == "nội dung biên nhận đã bị sửa sau khi ký"
    assert result.content is not None and result.content.status == "06"  # shown, but refused


def test_content_broken_inside_the_signed_receipt_fails_without_raising(
    tanthoi_receipt: bytes, trust: TrustSettings
) -> None:
    forged = tanthoi_receipt.replace(b'"status":"03"', b'"status":"03}')
    result = verify_receipt(forged, trust=trust, now=CHECKED)
    assert result.verdict == "failed"
    assert result.content is None
    assert "nội dung biên nhận đã bị sửa sau khi ký" in result.problems
    assert any("không phải biên nhận trạng thái hợp lệ" in p for p in result.problems)


def test_altered_signature_value_fails(tanthoi_receipt: bytes, trust: TrustSettings) -> None:
    # The signature value is the last field of the DER (no unsigned attributes).
    forged = tanthoi_receipt[:-1] + bytes([tanthoi_receipt[-1] ^ 0x01])
    result = verify_receipt(forged, trust=trust, now=CHECKED)
    assert result.verdict == "failed"
    assert result.reason == "chữ ký số không đúng về mật mã"


def test_another_agency_cannot_sign_the_receivers_receipt(trust: TrustSettings) -> None:
    # Tân Phú signs a receipt that claims Tân Thới registered the document.
    data = sign_receipt(make_content(receiver=TAN_THOI), credential("agency-tanphu"), now=AT)

    result = verify_receipt(data, trust=trust, now=CHECKED)

    assert result.verdict == "failed"
    assert "chỉ cơ quan nhận mới được ký biên nhận của mình" in result.reason
    assert "DEV.TPD.X02" in result.reason and "DEV.TPD.X01" in result.reason


def test_rogue_root_is_not_trusted(trust: TrustSettings) -> None:
    data = sign_receipt(make_content(receiver=DISTRICT), credential("rogue-agency-tpd"), now=AT)
    result = verify_receipt(data, trust=trust, now=CHECKED)
    assert result.verdict == "failed"
    assert result.reason == "chứng thư số không do tổ chức tin cậy cấp"
    # The same receipt passes for someone who trusts the rogue root: the check is the chain.
    rogue = load_trust([ROOT / "certs/dev/certs/rogue-root.cert.pem"], development=False)
    assert verify_receipt(data, trust=rogue, now=CHECKED).verdict == "passed"


def test_certificate_without_signing_key_usage_fails(trust: TrustSettings) -> None:
    data = sign_receipt(make_content(receiver=DISTRICT), credential("bad-keyusage"), now=AT)
    result = verify_receipt(data, trust=trust, now=CHECKED)
    assert result.verdict == "failed"
    assert result.reason == "chứng thư số không được phép dùng để ký"


def test_expired_certificate_is_judged_at_the_verification_time(trust: TrustSettings) -> None:
    at = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # bad-expired is valid until 1 July 2025
    data = sign_receipt(make_content(receiver=DISTRICT, at=at), credential("bad-expired"), now=at)
    assert verify_receipt(data, trust=trust, now=at + timedelta(days=1)).verdict == "passed"
    late = verify_receipt(data, trust=trust, now=CHECKED)
    assert late.verdict == "failed"
    assert "hết hạn" in late.reason


def test_document_hash_must_match_when_given(tanthoi_receipt: bytes, trust: TrustSettings) -> None:
    right = hashlib.sha256(DOCUMENT).hexdigest().upper()
    assert (
        verify_receipt(tanthoi_receipt, trust=trust, now=CHECKED, document_sha256=right).verdict
        == "passed"
    )

    other = hashlib.sha256(b"another document").hexdigest()
    result = verify_receipt(tanthoi_receipt, trust=trust, now=CHECKED, document_sha256=other)
    assert result.verdict == "failed"
    assert "biên nhận nói về một văn bản khác" in result.reason


def test_signing_time_far_from_the_status_time_fails(trust: TrustSettings) -> None:
    content = make_content()
    # sign_receipt refuses this; a non-conforming signer could still produce it.
    late = AT + timedelta(hours=3)
    data = asyncio.run(receipts.cms._sign(content.to_bytes(), credential("agency-tanthoi"), late))

    result = verify_receipt(data, trust=trust, now=late + timedelta(minutes=1))

    assert result.verdict == "failed"
    assert "lệch quá 5 phút so với thời điểm trạng thái" in result.reason


def test_generic_cms_without_signing_time_fails(trust: TrustSettings) -> None:
    # A CMS made with the credential's PAdES attributes: no signing-time, so no proof of when.
    signer = credential("agency-tanthoi").signer
    signed = asyncio.run(
        signer.async_sign_general_data(make_content().to_bytes(), "sha256", detached=False)
    )
    result = verify_receipt(signed.dump(), trust=trust, now=CHECKED)
    assert result.verdict == "failed"
    assert result.reason == "chữ ký không ghi thời điểm ký (signing-time)"
    assert result.content == make_content()


def test_receipt_from_the_future_fails(tanthoi_receipt: bytes, trust: TrustSettings) -> None:
    result = verify_receipt(tanthoi_receipt, trust=trust, now=AT - timedelta(hours=1))
    assert result.verdict == "failed"
    assert "thời điểm ký ở tương lai" in result.problems[-1]


def test_sign_refuses_a_status_time_far_from_the_signing_time() -> None:
    with pytest.raises(ReceiptError, match="lệch quá 5 phút"):
        sign_receipt(make_content(), credential("agency-tanthoi"), now=AT + timedelta(hours=1))


# --- revocation, online (real HTTP to the development CRL/OCSP services) -------------------------


def test_online_check_reports_good_and_revoked(dev_trust: TrustSettings) -> None:
    trust = dev_trust  # online checks go to the run's development services
    good = verify_receipt(
        sign_receipt(make_content(), credential("agency-tanthoi"), now=AT),
        trust=trust,
        now=CHECKED,
        offline=False,
    )
    assert good.verdict == "passed", good.problems
    assert good.revocation == "good"

    revoked = sign_receipt(make_content(receiver=DISTRICT), credential("bad-revoked"), now=AT)
    offline = verify_receipt(revoked, trust=trust, now=CHECKED)
    assert offline.verdict == "passed" and offline.revocation == "not_checked"
    online = verify_receipt(revoked, trust=trust, now=CHECKED, offline=False)
    assert online.verdict == "failed" and online.revocation == "revoked"
    assert online.reason == "chứng thư số đã bị thu hồi"


# --- content rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "13"}, "mã trạng thái"),
        ({"status": "99"}, "mã trạng thái"),
        ({"document_sha256": "abc"}, "64 chữ số hex"),
        ({"document_sha256": "g" * 64}, "64 chữ số hex"),
        ({"at": datetime(2026, 3, 2, 1, 30)}, "múi giờ"),
        ({"status": "02"}, "phải nêu lý do"),
        ({"receiver_code": "dev.tpd.x01"}, "mã định danh"),
        ({"sender_code": "A" * 36}, "mã định danh"),
        ({"receiver_name": "Xã\x1b[31m Tân Thới"}, "ký tự điều khiển"),
        ({"delivery_id": ""}, "không được để trống"),
    ],
)
def test_invalid_content_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        dataclasses.replace(make_content(), **change)  # type: ignore[arg-type]


def test_status_time_is_kept_in_utc() -> None:
    vietnam = AT.astimezone(timezone(timedelta(hours=7)))
    assert vietnam.hour == 8
    assert make_content(at=vietnam).at.tzinfo is UTC
    assert make_content(at=vietnam) == make_content()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda text: text.replace(",", ", "),  # not canonical
        lambda text: text.replace('{"at"', '{"status":"01","at"'),  # duplicate key
        lambda text: text.replace('{"at"', '{"extra":1,"at"'),  # unknown field
        lambda text: text.replace("congvan-receipt/1", "congvan-receipt/9"),
        lambda text: text.replace(".250000Z", "+00:00"),
        lambda text: text.replace("2026-03-02T", "2026-02-30T"),  # no such day
        lambda text: text.replace("T01:30", "T31:30"),
    ],
)
def test_parser_accepts_only_the_canonical_encoding(mangle: Callable[[str], str]) -> None:
    text = make_content().to_bytes().decode()
    assert ReceiptContent.from_bytes(text.encode()) == make_content()
    with pytest.raises(ReceiptError):
        ReceiptContent.from_bytes(mangle(text).encode())


@pytest.mark.parametrize(
    "data",
    [b"", b"not a receipt at all", b"\x30\x82\xff\xff", b"%PDF-1.7\n" + b"0" * 100],
)
def test_garbage_is_unreadable(data: bytes, trust: TrustSettings) -> None:
    with pytest.raises(UnreadableReceiptError):
        verify_receipt(data, trust=trust)


def test_mistagged_certificate_field_is_unreadable(
    tanthoi_receipt: bytes, trust: TrustSettings
) -> None:
    # The signer certificate's extensions, explicitly tagged [3], retagged [7]: asn1crypto then
    # fails with an AttributeError deep inside, which must still read as "unreadable".
    extensions = credential("agency-tanthoi").certificate["tbs_certificate"]["extensions"].dump()
    assert extensions[0] == 0xA3
    where = tanthoi_receipt.index(extensions)
    mangled = tanthoi_receipt[:where] + b"\xa7" + tanthoi_receipt[where + 1 :]
    with pytest.raises(UnreadableReceiptError):
        verify_receipt(mangled, trust=trust, now=CHECKED)


def test_no_bit_flip_raises_or_passes_other_content(
    tanthoi_receipt: bytes, trust: TrustSettings
) -> None:
    # Flips in unsigned, unused parts (the root's copy, digestAlgorithms) may still pass;
    # none may raise anything but UnreadableReceiptError or pass with a different content.
    rng = random.Random(20260302)
    for position in rng.sample(range(len(tanthoi_receipt)), 150):
        mangled = bytearray(tanthoi_receipt)
        mangled[position] ^= 1 << rng.randrange(8)
        try:
            result = verify_receipt(bytes(mangled), trust=trust, now=CHECKED)
        except UnreadableReceiptError:
            continue
        assert result.verdict == "failed" or result.content == make_content(), position


def test_detached_signature_is_unreadable(trust: TrustSettings) -> None:
    signer = credential("agency-tanthoi").signer
    detached = asyncio.run(signer.async_sign_general_data(b"payload", "sha256", detached=True))
    with pytest.raises(UnreadableReceiptError):
        verify_receipt(detached.dump(), trust=trust)


# --- PKCS#11: keys inside a real SoftHSM2 token (the suite's shared tokens) ---------------------


def test_pkcs11_credentials_sign_receipts(softhsm: str, trust: TrustSettings) -> None:
    from tests.support.softhsm import USER_PIN, token_uri

    for label, algorithm in (
        ("agency-tpd", "rsassa_pss"),
        ("official-tpd-phochutich", "sha256_ecdsa"),
    ):
        credential = load_credential(token_uri(label), USER_PIN, pkcs11_module=softhsm)
        content = make_content(receiver=DISTRICT, sender=TAN_THOI, at=AT)
        data = sign_receipt(content, credential, now=AT)
        assert signature_algorithm(data) == algorithm
        result = verify_receipt(data, trust=trust, now=CHECKED)
        assert result.verdict == "passed", result.problems
        assert result.signer is not None and result.signer.organization_identifier == "DEV.TPD.000"


# --- other software: OpenSSL checks a receipt without congvan ----------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_receipt_and_rejects_a_forgery(
    tanthoi_receipt: bytes, tmp_path: Path
) -> None:
    receipt = tmp_path / "bien-nhan.p7m"
    receipt.write_bytes(tanthoi_receipt)

    def openssl_verify(path: Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                *("openssl", "cms", "-verify", "-inform", "DER", "-in", str(path)),
                *("-CAfile", str(dev_root_path()), "-attime", str(int(CHECKED.timestamp()))),
            ],
            capture_output=True,
            check=False,
        )

    run = openssl_verify(receipt)
    assert run.returncode == 0, run.stderr
    assert run.stdout == make_content().to_bytes()

    forged = tmp_path / "forged.p7m"
    forged.write_bytes(tanthoi_receipt.replace(b'"status":"03"', b'"status":"06"'))
    assert openssl_verify(forged).returncode != 0


# --- the command line, run as a user runs it -----------------------------------------------------


@pytest.fixture(scope="module")
def receipt_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # Signed now: the CLI checks against the machine's clock.
    now = datetime.now(UTC)
    folder = tmp_path_factory.mktemp("receipts")
    files = {
        "good": sign_receipt(make_content(at=now), credential("agency-tanthoi"), now=now),
        "impostor": sign_receipt(make_content(at=now), credential("agency-tanphu"), now=now),
        "garbage": b"garbage, not a receipt",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.p7m"
        paths[name].write_bytes(data)
    paths["document"] = folder / "van-ban.pdf"
    paths["document"].write_bytes(DOCUMENT)
    return paths


def test_cli_verify_reports_in_vietnamese_and_exits_0(receipt_files: dict[str, Path]) -> None:
    result = run_cli(
        "receipt", "verify", receipt_files["good"], "--document", receipt_files["document"]
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "Kết quả: HỢP LỆ" in out
    assert (
        "Ủy ban nhân dân xã Tân Thới xác nhận văn bản số 12/UBND-VP của Ủy ban nhân dân huyện "
        "Tân Phú Đông: đã vào sổ (trạng thái 03)." in out
    )
    assert "Người ký: Ủy ban nhân dân xã Tân Thới (mã định danh DEV.TPD.X01)" in out
    assert "(giờ Việt Nam)" in out


def test_cli_verify_failed_exits_1_and_unreadable_exits_2(
    receipt_files: dict[str, Path],
) -> None:
    failed = run_cli("receipt", "verify", receipt_files["impostor"])
    assert failed.returncode == 1
    assert "Kết quả: KHÔNG HỢP LỆ" in failed.stdout
    assert "chỉ cơ quan nhận mới được ký biên nhận của mình" in failed.stdout
    assert "Nội dung dưới đây KHÔNG được chữ ký hợp lệ xác nhận:" in failed.stdout
    assert failed.stderr.startswith("congvan: ") and "Traceback" not in failed.stderr

    wrong_document = run_cli(
        "receipt", "verify", receipt_files["good"], "--document", receipt_files["garbage"]
    )
    assert wrong_document.returncode == 1
    assert "biên nhận nói về một văn bản khác" in wrong_document.stdout

    mixed = run_cli("receipt", "verify", receipt_files["good"], receipt_files["garbage"], "--json")
    assert mixed.returncode == 2
    assert "Traceback" not in mixed.stderr
    reports = [json.loads(line) for line in mixed.stdout.splitlines()]
    assert [r["verdict"] for r in reports] == ["passed", "failed"]
    assert reports[0]["content"]["receiver_code"] == "DEV.TPD.X01"
    assert reports[1]["readable"] is False
    assert "không phải biên nhận ký số" in mixed.stderr


def test_cli_in_production_trusts_only_the_given_roots(receipt_files: dict[str, Path]) -> None:
    production = {"CONGVAN_ENV": "production"}
    untrusted = run_cli("receipt", "verify", receipt_files["good"], env=production)
    assert untrusted.returncode == 1
    assert "chứng thư số không do tổ chức tin cậy cấp" in untrusted.stdout
    trusted = run_cli(
        "receipt", "verify", receipt_files["good"], "--trust", dev_root_path(), env=production
    )
    assert trusted.returncode == 0, trusted.stdout


def test_cli_show_prints_the_content(receipt_files: dict[str, Path]) -> None:
    shown = run_cli("receipt", "show", receipt_files["good"])
    assert shown.returncode == 0, shown.stderr
    assert "CHƯA KIỂM TRA CHỮ KÝ" in shown.stdout
    assert "Trạng thái: 03 (đã vào sổ)" in shown.stdout
    garbage = run_cli("receipt", "show", receipt_files["garbage"])
    assert garbage.returncode == 2
    assert garbage.stderr.count("\n") == 1 and "Traceback" not in garbage.stderr
