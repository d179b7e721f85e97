"""SoftHSM2 tokens holding development keys, for tests of PKCS#11 signing (a real module)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from asn1crypto import pem, x509

from signer.devpki import dev_ca_path, dev_cert_path, dev_key_path

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
RSA_LABEL = "agency-tpd"  # RSA-2048: signs with RSASSA-PSS
EC_LABEL = "official-tpd-phochutich"  # ECDSA P-256
# FRESH_TOKEN is logged in by no test but the wrong-PIN one: it sees the token's own refusal.
TOKEN, FRESH_TOKEN, USER_PIN = "congvan-test", "congvan-fresh", "246810"
OTHER_TOKEN = "congvan-other"  # a second token in the same module, for concurrency across tokens
TOKENS = (TOKEN, FRESH_TOKEN, OTHER_TOKEN)
SO_AND_USER_PIN = ("--pin", USER_PIN, "--so-pin", "13579111")
ROOT = Path(__file__).resolve().parents[2]


def token_uri(label: str, token: str = TOKEN) -> str:
    return f"pkcs11:token={token};object={label}"


def _import_certificates(token_label: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    token = pkcs11.lib(SOFTHSM_MODULE).get_token(token_label=token_label)
    labels = [(RSA_LABEL, b"\x01"), (EC_LABEL, b"\x02"), ("vn-dev-ca", b"\x10")]
    with token.open(rw=True, user_pin=USER_PIN) as session:
        for label, object_id in labels:
            path = dev_ca_path() if label == "vn-dev-ca" else dev_cert_path(label)
            der = pem.unarmor(path.read_bytes())[2]
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: object_id,
                    Attribute.VALUE: der,
                    Attribute.SUBJECT: x509.Certificate.load(der).subject.dump(),
                }
            )


def softhsm_tokens(directory: Path) -> Iterator[str]:
    """Two SoftHSM2 tokens holding the RSA and ECDSA dev keys with their certificates.

    Fails (never skips) without softhsm2 or python-pkcs11: PKCS#11 support must be tested.
    """
    assert shutil.which("softhsm2-util"), "softhsm2 is missing: apt-get install softhsm2"
    assert Path(SOFTHSM_MODULE).exists(), f"{SOFTHSM_MODULE} is missing: apt-get install softhsm2"
    import pkcs11  # noqa: F401  (python-pkcs11 comes with pyhanko[pkcs11]; fail loudly if absent)

    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {directory / 'tokens'}\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    for token in TOKENS:
        subprocess.run(
            [*("softhsm2-util", "--init-token", "--free", "--label", token), *SO_AND_USER_PIN],
            check=True,
            capture_output=True,
        )
        for label, object_id in ((RSA_LABEL, "01"), (EC_LABEL, "02")):
            subprocess.run(
                [
                    *("softhsm2-util", "--import", str(dev_key_path(label)), "--token", token),
                    *("--label", label, "--id", object_id, "--pin", USER_PIN),
                ],
                check=True,
                capture_output=True,
            )
    for token in TOKENS:
        _import_certificates(token)
    yield SOFTHSM_MODULE
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
