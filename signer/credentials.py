"""Signing credentials: a private key unlocked once, its certificate and its chain."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signer.errors import CredentialError, WrongPinError
from signer.keys import (
    PSS_SALT_LENGTH,
    Credential,
    PadesSigner,
    key_strength_problem,
    order_chain,
)
from signer.messages import file_error_message

__all__ = ["Credential", "KeySigner", "load_credential"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class KeySigner(PadesSigner):
    """A signer holding an already parsed and validated private key object."""

    def __init__(
        self,
        key: PrivateKey,
        certificate: x509.Certificate,
        chain: Iterable[x509.Certificate],
    ) -> None:
        self._key = key
        super().__init__(certificate, chain)

    async def sign_sha256(self, data: bytes) -> bytes:
        """Sign with the key in memory."""
        if isinstance(self._key, rsa.RSAPrivateKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
            return self._key.sign(data, pss, hashes.SHA256())
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def _to_asn1(cert: pyca_x509.Certificate) -> x509.Certificate:
    return x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def credential_from_key(
    key: object,
    certificate: pyca_x509.Certificate,
    chain: Iterable[pyca_x509.Certificate] = (),
    *,
    origin: str = "credential",
) -> Credential:
    """Build a Credential from a parsed key and certificates, refusing weak or mismatched keys."""
    if isinstance(key, rsa.RSAPrivateKey):
        weakness = key_strength_problem("rsa", key.key_size)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        weakness = key_strength_problem("ec", key.curve.key_size)
    else:
        raise CredentialError(f"{origin}: loại khóa không hỗ trợ; chỉ dùng khóa RSA hoặc ECDSA")
    if weakness:
        raise CredentialError(f"{origin}: {weakness}")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != certificate.public_key().public_bytes(der, spki):
        raise CredentialError(f"{origin}: khóa bí mật không khớp với chứng thư số")
    leaf = _to_asn1(certificate)
    ordered = order_chain(leaf, (_to_asn1(c) for c in chain))
    return Credential(signer=KeySigner(key, leaf, ordered), certificate=leaf, chain=ordered)


def _is_pkcs12_structure(data: bytes) -> bool:
    """Tell a well-formed PKCS#12 container (so a refusal means a wrong PIN) from garbage."""
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        pfx["auth_safe"]["content_type"].native  # noqa: B018  # forces parsing of the outer layer
        return bool(pfx["version"].native == "v3")
    except (ValueError, TypeError, KeyError):
        return False


def load_pkcs12_credential(path: Path, pin: str | None) -> Credential:
    """Unlock a PKCS#12 file with its PIN (passphrase); parse and validate the key once."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CredentialError(
            file_error_message(error, f"tệp chứng thư số {os.fspath(path)}")
        ) from None
    if not _is_pkcs12_structure(data):
        raise CredentialError(f"{path} không phải tệp PKCS#12 (.p12/.pfx)")
    password = pin.encode("utf-8") if pin is not None else None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        if pin is None:
            raise WrongPinError(f"{path} được bảo vệ bằng mã PIN nhưng chưa nhập mã PIN") from None
        raise WrongPinError(f"mã PIN không mở được {path}") from None
    except Exception as error:  # cryptography reports unsupported encodings in several types
        raise CredentialError(f"không nạp được tệp PKCS#12 {path}: {error}") from None
    if key is None or cert is None:
        raise CredentialError(f"{path} không chứa khóa bí mật kèm chứng thư số")
    return credential_from_key(key, cert, extra, origin=str(path))


def load_credential(
    source: str | os.PathLike[str],
    pin: str | None = None,
    *,
    pkcs11_module: str | os.PathLike[str] | None = None,
) -> Credential:
    """Load a PKCS#12 file or an RFC 7512 PKCS#11 URI into a reusable Credential."""
    text = os.fspath(source)
    if text.lower().startswith("pkcs11:"):
        from signer.pkcs11 import load_pkcs11_credential  # needs python-pkcs11 only when used

        module = os.fspath(pkcs11_module) if pkcs11_module is not None else None
        return load_pkcs11_credential(text, pin, module)
    return load_pkcs12_credential(Path(text), pin)
