"""Signing and verifying receipts as CMS SignedData with pyHanko.

A receipt is a DER CMS SignedData (a self-contained .p7m) encapsulating the canonical content.
Signed attributes: content-type, message-digest, signing-time, ESS signing-certificate-v2 and CMS
algorithm protection. Any CMS tool can check it, e.g. ``openssl cms -verify``.

Verification is offline by default (no network): chain, key usage and validity are judged at
`now` and revocation is reported `not_checked`, as `congvan verify --offline` does; `offline=False`
asks the certificates' CRL/OCSP services about the signing time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from asn1crypto import cms, core, pem, x509
from pyhanko.sign.attributes import (
    CMSAlgorithmProtectionProvider,
    SigningCertificateV2Provider,
    SigningTimeProvider,
)
from pyhanko.sign.general import (
    CMSExtractionError,
    extract_certificate_info,
    extract_signer_info,
)
from pyhanko.sign.signers.pdf_cms import format_signed_attributes
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import (
    async_validate_cms_signature,
    extract_self_reported_ts,
    get_signing_cert_attr,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureStatus
from pyhanko_certvalidator import ValidationContext

from signer.credentials import Credential
from signer.receipts.content import (
    ReceiptContent,
    ReceiptError,
    UnreadableReceiptError,
    format_time,
)
from signer.reports import SUBINDICATIONS
from signer.trust import TrustSettings

# The largest gap allowed between the status time, the signing time and the verifier's clock.
CLOCK_TOLERANCE = timedelta(minutes=5)
MAX_RECEIPT_BYTES = 1 << 20
_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)
Revocation = Literal["good", "revoked", "unknown", "not_checked"]
# pyHanko indications that signer.reports.SUBINDICATIONS does not word, said for a receipt.
_TRUST_PROBLEMS = {
    "OUT_OF_BOUNDS_NO_POE": "chứng thư số đã hết hạn hoặc chưa có hiệu lực vào thời điểm kiểm tra",
    "OUT_OF_BOUNDS_NOT_REVOKED": "chứng thư số đã hết hạn vào thời điểm kiểm tra",
    "NOT_YET_VALID": "chứng thư số chưa có hiệu lực vào thời điểm kiểm tra",
}


@dataclass(frozen=True)
class ReceiptSigner:
    """Who signed a receipt, read from the signer's certificate."""

    common_name: str | None
    organization: str | None
    organization_identifier: str | None
    serial: str

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> ReceiptSigner:
        """Name, agency, agency identifier and serial number of `certificate`."""
        subject = certificate.subject.native

        def value(key: str) -> str | None:
            found = subject.get(key)
            if isinstance(found, list):
                found = found[0] if found else None
            return None if found is None else str(found)

        return cls(
            common_name=value("common_name"),
            organization=value("organization_name"),
            organization_identifier=value("organization_identifier"),
            serial=format(certificate.serial_number, "X"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReceiptVerification:
    """The verdict on one receipt, what it says and who signed it."""

    verdict: Literal["passed", "failed"]
    reason: str
    content: ReceiptContent | None
    signer: ReceiptSigner | None
    signed_at: datetime | None
    problems: tuple[str, ...] = ()
    revocation: Revocation = "not_checked"

    def to_dict(self) -> dict[str, Any]:
        """The report as `congvan receipt verify --json` prints it."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "content": None if self.content is None else self.content.to_dict(),
            "signer": None if self.signer is None else self.signer.to_dict(),
            "signed_at": None if self.signed_at is None else format_time(self.signed_at),
            "revocation": self.revocation,
            "problems": list(self.problems),
        }


def sign_receipt(
    content: ReceiptContent, credential: Credential, *, now: datetime | None = None
) -> bytes:
    """Sign `content` as the receiving agency: a DER CMS SignedData with the content inside.

    The signing time is `now` (the clock by default) and must lie within a few minutes of the
    status time, as verification demands: sign when the status is made, not later.
    """
    if not isinstance(content, ReceiptContent):
        raise ReceiptError("nội dung biên nhận không hợp lệ")
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    if moment.utcoffset() is None:
        raise ReceiptError("thời điểm ký phải có múi giờ (datetime aware)")
    if abs(moment - content.at) > CLOCK_TOLERANCE:
        raise ReceiptError(
            "thời điểm ký lệch quá 5 phút so với thời điểm trạng thái; "
            "biên nhận phải được ký ngay khi gửi trạng thái"
        )
    return asyncio.run(_sign(content.to_bytes(), credential, moment))


async def _sign(payload: bytes, credential: Credential, moment: datetime) -> bytes:
    signer = credential.signer
    # The credential's own attribute spec is PAdES-only (no signing-time): give ours explicitly.
    providers = [
        SigningCertificateV2Provider(signing_cert=credential.certificate),
        SigningTimeProvider(timestamp=moment),
        CMSAlgorithmProtectionProvider(
            digest_algo="sha256", signature_algo=signer.get_signature_mechanism_for_digest("sha256")
        ),
    ]
    attributes = await format_signed_attributes(
        hashlib.sha256(payload).digest(), attr_provs=providers, content_type="data"
    )
    signed = await signer.async_sign_prescribed_attributes(
        "sha256",
        attributes,
        cms_version="v1",
        encap_content_info={"content_type": "data", "content": payload},
    )
    return bytes(signed.dump())


def _open(data: bytes) -> tuple[cms.SignedData, bytes]:
    """The SignedData and the encapsulated content, or UnreadableReceiptError."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise UnreadableReceiptError("tệp rỗng, không phải biên nhận ký số")
    if len(data) > MAX_RECEIPT_BYTES:
        raise UnreadableReceiptError("tệp quá lớn để là một biên nhận ký số")
    try:
        if pem.detect(bytes(data)):
            data = pem.unarmor(bytes(data))[2]
        info = cms.ContentInfo.load(bytes(data), strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        signed_data = info["content"]
        _ = signed_data.native  # parse everything now, so a malformed part fails here
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "data" or encap["content"] is core.VOID:
            raise ValueError("no encapsulated data")
        payload = encap["content"].native
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError):
        # asn1crypto raises AttributeError for some mistagged values (an OID tagged as another type)
        raise UnreadableReceiptError(
            "không phải biên nhận ký số (CMS SignedData có kèm nội dung)"
        ) from None
    if not isinstance(payload, bytes):
        raise UnreadableReceiptError("nội dung biên nhận không đọc được")
    return signed_data, payload


def read_receipt(data: bytes) -> ReceiptContent:
    """The content of a receipt, without checking its signature (for display only)."""
    _signed_data, payload = _open(data)
    return ReceiptContent.from_bytes(payload)


def verify_receipt(
    data: bytes,
    *,
    trust: TrustSettings,
    now: datetime | None = None,
    document_sha256: str | None = None,
    offline: bool = True,
) -> ReceiptVerification:
    """Check a receipt's signature, trust, signer and times; raise only for unreadable input."""
    moment = now or datetime.now(UTC)
    if moment.utcoffset() is None:
        raise ReceiptError("thời điểm kiểm tra phải có múi giờ (datetime aware)")
    signed_data, payload = _open(data)
    return asyncio.run(
        _verify(signed_data, payload, trust, moment, document_sha256, offline=offline)
    )


async def _verify(
    signed_data: cms.SignedData,
    payload: bytes,
    trust: TrustSettings,
    now: datetime,
    document_sha256: str | None,
    *,
    offline: bool,
) -> ReceiptVerification:
    problems: list[str] = []
    status: SignatureStatus | None = None
    certificate: x509.Certificate | None = None
    signer_info: cms.SignerInfo | None = None
    try:
        signer_info = extract_signer_info(signed_data)
        certificate = extract_certificate_info(signed_data).signer_cert
    except (CMSExtractionError, ValueError):
        problems.append("biên nhận phải có đúng một chữ ký kèm chứng thư số của người ký")
    if signer_info is not None and certificate is not None:
        status = await _validate_signature(signed_data, trust, now, problems)
        if status is not None and get_signing_cert_attr(signer_info["signed_attrs"]) is None:
            problems.append("chữ ký thiếu thuộc tính ESS signing-certificate-v2")
    signed_at = _signing_time(signer_info)

    content: ReceiptContent | None = None
    try:
        content = ReceiptContent.from_bytes(payload)
    except ReceiptError as error:
        problems.append(f"nội dung đã ký không phải biên nhận trạng thái hợp lệ: {error}")
    signer = None if certificate is None else ReceiptSigner.from_certificate(certificate)
    if content is not None and signer is not None:
        problems.extend(_content_problems(content, signer, certificate, signed_at, now))
    expected = None if document_sha256 is None else document_sha256.strip().lower()
    if content is not None and expected is not None and content.document_sha256 != expected:
        problems.append(
            "biên nhận nói về một văn bản khác: mã băm SHA-256 trong biên nhận không khớp "
            "với tệp văn bản đã cho"
        )
    revocation: Revocation = "not_checked"
    if not offline and status is not None and status.trusted:
        revocation = await _check_revocation(status, signed_data, trust, signed_at, problems)

    if problems:
        return ReceiptVerification(
            "failed", problems[0], content, signer, signed_at, tuple(problems), revocation
        )
    reason = "chữ ký hợp lệ, chứng thư số tin cậy và đúng của cơ quan nhận; nội dung nguyên vẹn"
    return ReceiptVerification("passed", reason, content, signer, signed_at, (), revocation)


async def _validate_signature(
    signed_data: cms.SignedData, trust: TrustSettings, now: datetime, problems: list[str]
) -> SignatureStatus | None:
    context = ValidationContext(
        trust_roots=list(trust.roots), moment=now, allow_fetching=False, revocation_mode="none"
    )
    try:
        status: SignatureStatus = await async_validate_cms_signature(
            signed_data, validation_context=context, key_usage_settings=_KEY_USAGE
        )
    except SignatureValidationError as error:
        problems.append(f"cấu trúc chữ ký bị hỏng hoặc giả mạo: {error.failure_message}")
        return None
    except Exception as error:  # a malformed signature is a verdict, never an exception
        problems.append(f"cấu trúc chữ ký bị hỏng: {error}")
        return None
    if not status.intact:
        problems.append("nội dung biên nhận đã bị sửa sau khi ký")
    elif not status.valid:
        problems.append("chữ ký số không đúng về mật mã")
    elif status.trust_problem_indic is not None:
        name = str(getattr(status.trust_problem_indic, "name", status.trust_problem_indic))
        wording = _TRUST_PROBLEMS.get(name) or SUBINDICATIONS.get(name)
        problems.append(wording or f"chứng thư số không được chấp nhận ({name})")
    return status


def _signing_time(signer_info: cms.SignerInfo | None) -> datetime | None:
    try:
        moment = None if signer_info is None else extract_self_reported_ts(signer_info)
    except (ValueError, TypeError, KeyError):
        return None
    return None if moment is None else moment.astimezone(UTC)


def _content_problems(
    content: ReceiptContent,
    signer: ReceiptSigner,
    certificate: x509.Certificate | None,
    signed_at: datetime | None,
    now: datetime,
) -> list[str]:
    """The receiving agency must sign its own receipt, at the time the receipt states."""
    problems = []
    if signer.organization_identifier != content.receiver_code:
        who = signer.organization or signer.common_name or "không rõ cơ quan"
        problems.append(
            f"biên nhận do {who} (mã định danh {signer.organization_identifier or 'không có'}) "
            f"ký, không phải cơ quan nhận {content.receiver_name} (mã định danh "
            f"{content.receiver_code}); chỉ cơ quan nhận mới được ký biên nhận của mình"
        )
    if signed_at is None:
        problems.append("chữ ký không ghi thời điểm ký (signing-time)")
        return problems
    if abs(signed_at - content.at) > CLOCK_TOLERANCE:
        problems.append(
            f"thời điểm ký ({format_time(signed_at)}) lệch quá 5 phút so với thời điểm "
            f"trạng thái ghi trong biên nhận ({format_time(content.at)})"
        )
    if signed_at - now > CLOCK_TOLERANCE:
        problems.append("thời điểm ký ở tương lai so với đồng hồ của máy kiểm tra")
    if certificate is not None:
        validity = certificate["tbs_certificate"]["validity"]
        if not validity["not_before"].native <= signed_at <= validity["not_after"].native:
            problems.append("thời điểm ký nằm ngoài thời hạn hiệu lực của chứng thư số")
    return problems


async def _check_revocation(
    status: SignatureStatus,
    signed_data: cms.SignedData,
    trust: TrustSettings,
    signed_at: datetime | None,
    problems: list[str],
) -> Revocation:
    # Imported here: the PDF verifier's package is needed only for online checks.
    from pyhanko_certvalidator.registry import SimpleTrustManager

    from signer.verification.revocation import check_revocation

    if status.validation_path is None:
        return "not_checked"
    outcome = await check_revocation(
        status.validation_path,
        manager=SimpleTrustManager.build(trust_roots=list(trust.roots)),
        other_certs=extract_certificate_info(signed_data).other_certs,
        crls=[],
        ocsps=[],
        offline=False,
        moment=signed_at,
        timeout=None,
        development=trust.development,
        dev_services=trust.dev_services,
    )
    if outcome.status == "revoked":
        problems.append(SUBINDICATIONS["REVOKED"])
    elif outcome.status != "good":
        problems.append(SUBINDICATIONS["TRY_LATER"])
    return outcome.status
