"""What both kinds of credential (PKCS#12 files, PKCS#11 tokens) share.

The signer class (`PadesSigner`: RSASSA-PSS or ECDSA with SHA-256, PAdES signed attributes built
once), the `Credential` it is handed out in, the ordering of a certificate chain, and the one
key-strength rule (Circular 15/2025/TT-BKHCN) that loading and remote signing apply.
"""

from __future__ import annotations

import asyncio
import os
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import algos, cms, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signer.errors import CredentialError

# Circular 15/2025/TT-BKHCN: RSA at least 2048 bits (RSASSA-PSS), ECDSA at least 256 bits.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
PSS_SALT_LENGTH = 32


def key_strength_problem(algorithm: str, bits: int) -> str | None:
    """Why a key of `algorithm` ("rsa", "ec") and `bits` is too weak to sign with, or None."""
    if algorithm == "rsa" and bits < MIN_RSA_BITS:
        return f"khóa RSA {bits} bit; cần ít nhất {MIN_RSA_BITS} bit"
    if algorithm == "ec" and bits < MIN_EC_BITS:
        return f"khóa ECDSA {bits} bit; cần ít nhất {MIN_EC_BITS} bit"
    return None


def pss_mechanism() -> algos.SignedDigestAlgorithm:
    """RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, as a CMS algorithm identifier."""
    return algos.SignedDigestAlgorithm(
        {
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": "sha256"},
                    },
                    "salt_length": PSS_SALT_LENGTH,
                    "trailer_field": "trailer_field_bc",
                }
            ),
        }
    )


class _FixedAttribute(CMSAttributeProvider):  # type: ignore[misc]
    """Supplies one attribute built and parsed once."""

    def __init__(self, attribute: cms.CMSAttribute) -> None:
        self.attribute_type = attribute["type"].native
        self._attribute = attribute

    async def get_attribute(self, dry_run: bool = False) -> cms.CMSAttribute:
        return self._attribute


class _PadesSignedAttributes(SignedAttributeProviderSpec):  # type: ignore[misc]
    """PAdES B-B signed attributes besides content type and digest: signing-certificate-v2 only.

    pyHanko rebuilds this attribute for every signature, and asn1crypto re-encodes freshly
    built nested values again at every enclosing level: ~25 ms per signature, more than the
    signature itself. Parsing it back from DER once makes every later encoding a copy.
    (PAdES forbids the signing-time attribute; the time goes in the signature dictionary.)
    """

    def __init__(self, certificate: x509.Certificate) -> None:
        built = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [as_signing_certificate_v2(certificate)]}
        )
        self._provider = _FixedAttribute(cms.CMSAttribute.load(built.dump()))

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterable[CMSAttributeProvider]:
        return (self._provider,)


class PadesSigner(Signer):  # type: ignore[misc]  # pyHanko ships no type information we check
    """What every congvan signer shares: PSS for RSA, SHA-256, PAdES signed attributes built once.

    Subclasses say how the raw signature is made (`sign_sha256`).
    """

    def __init__(self, certificate: x509.Certificate, chain: Iterable[x509.Certificate]) -> None:
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        registry.register_multiple(list(chain))
        super().__init__(
            signature_mechanism=_mechanism_for(certificate.public_key.algorithm),
            signing_cert=certificate,
            cert_registry=registry,
            prefer_pss=True,
        )
        # Only PAdES signatures are made with these signers (see _PadesSignedAttributes).
        self.signed_attr_prov_spec = _PadesSignedAttributes(certificate)

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign ``data`` (a dry run signs too: it is cheap and sized right)."""
        if digest_algorithm != "sha256":
            raise CredentialError(
                f"chứng thư này chỉ ký với SHA-256, không ký với {digest_algorithm}"
            )
        return await self.sign_sha256(data)

    @abstractmethod
    async def sign_sha256(self, data: bytes) -> bytes:
        """The raw signature of ``data`` with SHA-256 (RSASSA-PSS or ECDSA)."""


def _mechanism_for(algorithm: str) -> algos.SignedDigestAlgorithm:
    if algorithm == "rsa":
        built = pss_mechanism()
    elif algorithm == "ec":
        built = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    else:
        raise CredentialError(f"loại khóa {algorithm} không hỗ trợ; chỉ dùng khóa RSA hoặc ECDSA")
    # Parsed back from DER so asn1crypto does not re-encode the PSS parameters on every use.
    return algos.SignedDigestAlgorithm.load(built.dump())


@dataclass(frozen=True)
class Credential:
    """A ready-to-use signer with the certificate it signs as and the certificates above it."""

    signer: Signer
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def _subject_value(self, attribute: str) -> str | None:
        value = self.certificate.subject.native.get(attribute)
        if isinstance(value, list):  # a multi-valued attribute: the first one names the subject
            value = value[0] if value else None
        return str(value) if value is not None else None

    @property
    def common_name(self) -> str | None:
        """The subject's common name (CN)."""
        return self._subject_value("common_name")

    @property
    def organization(self) -> str | None:
        """The subject's organization (O), i.e. the agency name."""
        return self._subject_value("organization_name")

    @property
    def organization_identifier(self) -> str | None:
        """The agency identifier carried in organizationIdentifier (2.5.4.97)."""
        return self._subject_value("organization_identifier")


def order_chain(
    leaf: x509.Certificate, others: Iterable[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The leaf's issuers found among ``others``, nearest first; other certificates are dropped."""
    remaining = [c for c in others if c.dump() != leaf.dump()]
    ordered: list[x509.Certificate] = []
    current = leaf
    while current.self_signed == "no":
        issuer = next((c for c in remaining if c.subject == current.issuer and c.ca), None)
        if issuer is None:
            break
        ordered.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return tuple(ordered)


def check_key_matches(signer: Signer, certificate: x509.Certificate, origin: str) -> None:
    """Refuse a weak key; sign a random challenge and verify it against the certificate."""
    weakness = key_strength_problem(
        certificate.public_key.algorithm, certificate.public_key.bit_size
    )
    if weakness:
        raise CredentialError(f"{origin}: {weakness}")
    challenge = os.urandom(32)
    signature = asyncio.run(signer.async_sign_raw(challenge, "sha256"))
    public = serialization.load_der_public_key(certificate.public_key.dump())
    try:
        if isinstance(public, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
            public.verify(signature, challenge, pss, hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, challenge, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CredentialError(f"{origin}: khóa không khớp với chứng thư số") from None
