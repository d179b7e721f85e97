"""PKCS#11 signing throughput on SoftHSM2, against a PKCS#12 (in-memory key) baseline.

Run: .venv/bin/python bench/bench_pkcs11.py [--seconds N]

sign_pdf of the 1-page sample at PAdES B-B, RSA-2048 (RSASSA-PSS) and ECDSA P-256, with 1 and with
4 threads signing at once through one Credential. Needs softhsm2 (apt-get install softhsm2); the
token is created in a temporary directory and removed afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asn1crypto import pem, x509  # noqa: E402

from signer.credentials import Credential, load_credential  # noqa: E402
from signer.devpki import (  # noqa: E402
    DEV_PASSPHRASE,
    dev_ca_path,
    dev_cert_path,
    dev_key_path,
    dev_p12_path,
)
from signer.signing import sign_pdf  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "cong-van-cai-cach-hanh-chinh.pdf"
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, SO_PIN = "congvan-bench", "246810", "13579111"
KEYS = {"RSA-2048": ("agency-tpd", b"\x01"), "ECDSA P-256": ("official-tpd-phochutich", b"\x02")}
THREADS = (1, 4)


def make_token(directory: Path) -> None:
    """Initialise a SoftHSM2 token in ``directory`` holding the dev keys and their certificates."""
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {directory / 'tokens'}\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(config)
    util = ("softhsm2-util", "--pin", PIN)
    subprocess.run(
        [*util, "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
    )
    for label, object_id in KEYS.values():
        key = str(dev_key_path(label))
        subprocess.run(
            [*util, "--import", key, "--token", TOKEN, "--label", label, "--id", object_id.hex()],
            check=True,
            capture_output=True,
        )
    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=PIN) as session:
        certificates = [
            (label, object_id, dev_cert_path(label)) for label, object_id in KEYS.values()
        ]
        for label, object_id, path in [*certificates, ("vn-dev-ca", b"\x10", dev_ca_path())]:
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


def throughput(credential: Credential, pdf: bytes, threads: int, seconds: float) -> float:
    """Signatures per second with ``threads`` threads calling sign_pdf on one Credential."""
    sign_pdf(io.BytesIO(pdf), io.BytesIO(), credential)  # warm-up
    counts = [0] * threads
    start_line = threading.Barrier(threads + 1)
    deadline = 0.0

    def work(index: int) -> None:
        start_line.wait()
        while time.perf_counter() < deadline:
            sign_pdf(io.BytesIO(pdf), io.BytesIO(), credential)
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    start_line.wait()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement (8 of them)")
    seconds = parser.parse_args().seconds
    if not shutil.which("softhsm2-util") or not Path(MODULE).exists():
        sys.exit("softhsm2 is missing: apt-get install softhsm2")
    pdf = SAMPLE.read_bytes()
    print(f"sign_pdf, 1-page sample, PAdES B-B, {seconds:g} s per cell, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="congvan-softhsm-") as directory:
        make_token(Path(directory))
        header = f"{'key':<12} {'threads':>7} {'PKCS#12 sig/s':>14} {'PKCS#11 sig/s':>14}"
        print(header + f" {'PKCS#11/PKCS#12':>16} {'x4/x1 (PKCS#11)':>16}")
        for name, (label, _) in KEYS.items():
            p12 = load_credential(dev_p12_path(label), DEV_PASSPHRASE)
            p11 = load_credential(f"pkcs11:token={TOKEN};object={label}", PIN, pkcs11_module=MODULE)
            single = 0.0
            for threads in THREADS:
                base = throughput(p12, pdf, threads, seconds)
                token = throughput(p11, pdf, threads, seconds)
                single = single or token
                print(
                    f"{name:<12} {threads:>7} {base:>14.1f} {token:>14.1f} "
                    f"{token / base:>15.2f}x {token / single:>15.2f}x"
                )


if __name__ == "__main__":
    main()
