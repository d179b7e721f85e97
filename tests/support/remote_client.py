"""An official's computer signing for the service: a separate process with only cryptography and
asn1crypto, holding a development key the service code never loads."""

from __future__ import annotations

import subprocess
import sys

from signer.devpki import dev_cert_path, dev_key_path

# The official's computer: only cryptography and asn1crypto, none of the service code.
CLIENT_SCRIPT = r"""
import base64, sys
from asn1crypto import cms, pem, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

key_path, scheme, cert_path = sys.argv[1], sys.argv[2], sys.argv[3]
data = base64.b64decode(sys.stdin.read())
with open(key_path, "rb") as handle:
    key = serialization.load_pem_private_key(handle.read(), None)
if scheme in ("pss", "cms-pss"):
    signature = key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    algorithm = {"algorithm": "rsassa_pss", "parameters": {
        "hash_algorithm": {"algorithm": "sha256"},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
        "salt_length": 32}}
elif scheme == "pkcs1":
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
else:
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    algorithm = {"algorithm": "sha256_ecdsa"}
    if scheme == "ecdsa-raw":  # what a PKCS#11 token returns: r || s
        r, s = decode_dss_signature(signature)
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
if scheme.startswith("cms"):
    with open(cert_path, "rb") as handle:
        cert = x509.Certificate.load(pem.unarmor(handle.read())[2])
    signer_info = {
        "version": "v1",
        "sid": {"issuer_and_serial_number": {
            "issuer": cert.issuer, "serial_number": cert.serial_number}},
        "digest_algorithm": {"algorithm": "sha256"},
        "signature_algorithm": algorithm,
        "signed_attrs": cms.CMSAttributes.load(data),
        "signature": signature,
    }
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "data"},
        "certificates": [cert],
        "signer_infos": [signer_info],
    })
    signature = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
sys.stdout.buffer.write(signature)
"""


def client_sign(label: str, to_be_signed_b64: str, scheme: str) -> bytes:
    """Sign in a separate process holding the development key of ``label``."""
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            CLIENT_SCRIPT,
            str(dev_key_path(label)),
            scheme,
            str(dev_cert_path(label)),
        ],
        input=to_be_signed_b64.encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    return run.stdout
