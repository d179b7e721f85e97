"""The state of a prepared remote signature, and the checks on what the client sends back.

The state is a small JSON file beside the prepared PDF. It records the certificate the client
declared, the document digest, the exact signed attributes to be signed and the prepared PDF's
SHA-256, and carries a seal (SHA-256, or HMAC-SHA-256 with a service secret) over all of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from asn1crypto import algos, cms, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pyhanko.sign.general import as_signing_certificate_v2

from signer.errors import SigningError
from signer.files import write_atomically
from signer.keys import PSS_SALT_LENGTH, key_strength_problem, pss_mechanism
from signer.pades import CHUNK_SIZE, Level

STATE_VERSION = 1
DEFAULT_VALIDITY = timedelta(minutes=30)
RSA_PSS = "rsassa-pss-sha256"  # MGF1-SHA-256, 32-byte salt: what Circular 15/2025 asks for
RSA_PKCS1 = "rsa-pkcs1v15-sha256"  # (practice) many tokens can do nothing else
ECDSA = "ecdsa-sha256"
SignatureFormat = Literal["raw", "cms"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(value, validate=True)


def check_certificate(certificate: x509.Certificate, now: datetime) -> None:
    """Refuse at preparation what could never give a valid signature."""
    key = certificate.public_key
    weakness = key_strength_problem(key.algorithm, key.bit_size)
    if weakness:
        raise SigningError(f"chứng thư dùng {weakness}")
    if key.algorithm not in ("rsa", "ec"):
        raise SigningError(f"loại khóa {key.algorithm} không hỗ trợ; chỉ dùng RSA hoặc ECDSA")
    validity = certificate["tbs_certificate"]["validity"]
    if not validity["not_before"].native <= now <= validity["not_after"].native:
        raise SigningError(
            f"chứng thư số không còn hiệu lực (hiệu lực từ {validity['not_before'].native:%Y-%m-%d}"
            f" đến {validity['not_after'].native:%Y-%m-%d})"
        )
    usage = certificate.key_usage_value
    if usage is not None and not usage.native & {"digital_signature", "non_repudiation"}:
        raise SigningError("chứng thư số không được phép dùng để ký (thiếu digitalSignature)")


def signed_attributes(document_digest: bytes, certificate: x509.Certificate) -> bytes:
    """DER of the PAdES B-B signed attributes: what the token signs (no signing-time: PAdES)."""
    attributes = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [document_digest]}),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [as_signing_certificate_v2(certificate)],
                }
            ),
        ]
    )
    return bytes(attributes.dump())


def seal_state(body: dict[str, Any], secret: bytes | None) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    if secret is None:
        return "sha256:" + hashlib.sha256(canonical).hexdigest()
    return "hmac-sha256:" + hmac.new(secret, canonical, hashlib.sha256).hexdigest()


def ranges_digest(work: IO[bytes], start: int, end: int) -> tuple[bytes, str]:
    """The /ByteRange digest and the whole-file SHA-256 of a prepared PDF, in one pass."""
    ranges, whole = hashlib.sha256(), hashlib.sha256()
    work.seek(0)
    position = 0
    while chunk := work.read(CHUNK_SIZE):
        whole.update(chunk)
        chunk_end = position + len(chunk)
        if position < start:
            ranges.update(chunk[: max(0, min(chunk_end, start) - position)])
        if chunk_end > end:
            ranges.update(chunk[max(0, end - position) :])
        position = chunk_end
    return ranges.digest(), whole.hexdigest()


def write_state(path: Path, fields: dict[str, Any], secret: bytes | None) -> None:
    """Write a state file with its version and seal, atomically."""
    state = {"version": STATE_VERSION, **fields}
    state["seal"] = seal_state(state, secret)
    # The state names the signer and the document: readable by the service account only.
    write_atomically(path, json.dumps(state, indent=1).encode(), mode=0o600)


@dataclass(frozen=True)
class SessionState:
    """A state file read back, its seal checked."""

    id: str
    field_name: str
    level: Level
    tsa_url: str | None
    document_digest: bytes
    reserved_region: tuple[int, int]
    prepared_sha256: str
    to_be_signed: bytes
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    expires: datetime


def load_state(path: Path, secret: bytes | None) -> SessionState:
    try:
        raw = json.loads(path.read_bytes())
    except OSError as error:
        raise SigningError(f"không đọc được trạng thái ký {path}: {error.strerror}") from None
    except ValueError:
        raise SigningError(f"trạng thái ký {path} hỏng (không phải JSON)") from None
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        raise SigningError(f"trạng thái ký {path} không đúng định dạng")
    body = {k: v for k, v in raw.items() if k != "seal"}
    seal = raw.get("seal")
    if not isinstance(seal, str) or not hmac.compare_digest(seal, seal_state(body, secret)):
        hint = "" if secret is None else " hoặc khóa bí mật không đúng"
        raise SigningError(f"trạng thái ký {path} đã bị sửa đổi{hint}; hãy chuẩn bị lại")
    try:
        start, end = raw["reserved_region"]
        state = SessionState(
            id=str(raw["id"]),
            field_name=str(raw["field_name"]),
            level=Level(raw["level"]),
            tsa_url=raw["tsa_url"],
            document_digest=_unb64(raw["document_digest"]),
            reserved_region=(int(start), int(end)),
            prepared_sha256=str(raw["prepared_sha256"]),
            to_be_signed=_unb64(raw["to_be_signed"]),
            certificate=x509.Certificate.load(_unb64(raw["certificate"])),
            chain=tuple(x509.Certificate.load(_unb64(c)) for c in raw["chain"]),
            expires=datetime.fromisoformat(raw["expires"]),
        )
        _ = state.certificate.native  # parse fully now, not halfway through the finish
    except (KeyError, TypeError, ValueError) as error:
        raise SigningError(f"trạng thái ký {path} không đúng định dạng: {error}") from None
    # A consistent state binds the signed attributes to the digest and certificate recorded.
    if state.to_be_signed != signed_attributes(state.document_digest, state.certificate):
        raise SigningError(f"trạng thái ký {path} không nhất quán; hãy chuẩn bị lại")
    return state


def _public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    public = serialization.load_der_public_key(certificate.public_key.dump())
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise SigningError("chứng thư số dùng loại khóa không hỗ trợ")
    return public


def check_raw_signature(
    certificate: x509.Certificate, data: bytes, signature: bytes
) -> tuple[algos.SignedDigestAlgorithm, bytes]:
    """The mechanism ``signature`` was made with over ``data`` by the certificate's key.

    Returns the signature as CMS wants it (DER for ECDSA). Raises when no accepted mechanism
    verifies: a different key, different data, or a corrupted value look the same here.
    """
    public = _public_key(certificate)
    if isinstance(public, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
        candidates: list[tuple[padding.AsymmetricPadding, algos.SignedDigestAlgorithm]] = [
            (pss, pss_mechanism()),
            (padding.PKCS1v15(), algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})),
        ]
        for scheme, mechanism in candidates:
            try:
                public.verify(signature, data, scheme, hashes.SHA256())
                return mechanism, signature
            except InvalidSignature:
                continue
        accepted = f"{RSA_PSS} (salt {PSS_SALT_LENGTH} byte) hoặc {RSA_PKCS1}"
    else:
        # PKCS#11 tokens return ECDSA as r||s; CMS carries it DER-encoded.
        size = (public.curve.key_size + 7) // 8
        forms = [signature]
        if len(signature) == 2 * size:
            r, s = (int.from_bytes(signature[i : i + size], "big") for i in (0, size))
            forms.append(encode_dss_signature(r, s))
        for form in forms:
            try:
                decode_dss_signature(form)
                public.verify(form, data, ec.ECDSA(hashes.SHA256()))
                return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}), form
            except (InvalidSignature, ValueError):
                continue
        accepted = f"{ECDSA} (DER hoặc r||s)"
    raise SigningError(
        "chữ ký gửi về không khớp với dữ liệu cần ký và chứng thư số đã chuẩn bị "
        f"(ký sai dữ liệu, sai khóa hoặc thuật toán khác {accepted}); không ghi tệp nào"
    )


def _signer_matches(signer_info: cms.SignerInfo, certificate: x509.Certificate) -> bool:
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        return bool(
            sid.chosen["issuer"] == certificate.issuer
            and sid.chosen["serial_number"].native == certificate.serial_number
        )
    return bool(sid.chosen.native == certificate.key_identifier)


def from_client_cms(data: bytes, state: SessionState) -> tuple[bytes, bytes]:
    """Signed attributes (DER, SET-tagged) and signature value from a client's SignedData."""
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError("không phải SignedData")
        signer_infos = info["content"]["signer_infos"]
        if len(signer_infos) != 1:
            raise ValueError(f"có {len(signer_infos)} SignerInfo, cần đúng 1")
        signer_info = signer_infos[0]
        if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
            raise ValueError("thuật toán băm không phải SHA-256")
        tagged = signer_info["signed_attrs"]
        if not tagged.contents:
            raise ValueError("thiếu thuộc tính được ký (signed attributes)")
        # The signature covers the attributes encoded as a SET, not with the [0] tag of SignerInfo.
        signed = cms.CMSAttributes.load(tagged.untag().dump())
        values = {a["type"].native: a["values"] for a in signed}
        signature = bytes(signer_info["signature"].native)
        matches = _signer_matches(signer_info, state.certificate)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise SigningError(f"CMS gửi về không đọc được: {error}") from None
    if not matches:
        raise SigningError("CMS gửi về do một chứng thư khác với chứng thư đã chuẩn bị ký")
    digests = values.get("message_digest")
    if digests is None or [d.native for d in digests] != [state.document_digest]:
        raise SigningError("CMS gửi về ký một bản tóm lược khác với văn bản đã chuẩn bị")
    types = values.get("content_type")
    if types is None or [t.native for t in types] != ["data"]:
        raise SigningError("CMS gửi về có loại nội dung (content type) không phải data")
    return bytes(signed.dump()), signature
