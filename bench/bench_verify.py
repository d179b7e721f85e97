"""Verification rate of a 1-signature document, offline, all strict checks on (target >= 150/s).

Prints the rate of `signer.verify_pdf` against a baseline measured in the same run: plain pyHanko
`validate_pdf_signature` with default settings (default diff policy, default key usage, no
revocation checks, trust root given), with congvan's speedups removed so it is pyHanko as shipped.
Single process, single thread; rates are CPU time (time.process_time) so other load on the machine
disturbs them less. Each call verifies the next of several documents signed separately (same
agency, different signatures), so nothing remembered about one document can speed up the next:
only what recurs across real documents (the agency's certificate chain) is reused.
Then the same for the document with a cross-reference stream (qpdf) and as a hybrid-reference
file (Word), against the classic-xref figure of the same run: each must take <= 1.5x as long.
Run: .venv/bin/python bench/bench_verify.py [--seconds 5] [--profile]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402
from variants import variants  # noqa: E402

from signer.credentials import Credential, load_credential  # noqa: E402
from signer.devpki import DEV_PASSPHRASE, dev_p12_path  # noqa: E402
from signer.signing import SignOptions, sign_pdf  # noqa: E402
from signer.trust import TrustSettings, load_trust  # noqa: E402
from signer.verification import speedups, verify_pdf  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "cong-van-cai-cach-hanh-chinh.pdf"
TARGET = 150.0
DOCUMENTS = 8
KIND_SLOWDOWN = 1.5


def rate(function: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Calls per CPU second over at least `seconds` of CPU time (after one warm-up call)."""
    function()
    count = 0
    started = time.process_time()
    while True:
        function()
        count += 1
        elapsed = time.process_time() - started
        if elapsed >= seconds:
            return count / elapsed, count


def signed_copies(pdf: bytes, credential: Credential, count: int) -> list[bytes]:
    """``count`` separately signed (B-B) copies of ``pdf``."""
    copies = []
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "source.pdf"
        source.write_bytes(pdf)
        for number in range(count):
            signed = Path(directory) / f"signed-{number}.pdf"
            sign_pdf(source, signed, credential, SignOptions(level="b-b"))
            copies.append(signed.read_bytes())
    assert len(set(copies)) == count, "each document must carry its own signature"
    return copies


def kinds_rates(
    trust: TrustSettings, credential: Credential, seconds: float, rounds: int = 3
) -> int:
    """Verification rate per cross-reference kind, best of interleaved rounds; exit status."""
    turns = {
        name: itertools.cycle(signed_copies(data, credential, DOCUMENTS))
        for name, data in variants(SAMPLE.read_bytes()).items()
    }
    best = dict.fromkeys(turns, 0.0)
    for _ in range(rounds):
        for name, turn in turns.items():

            def one(turn: itertools.cycle[bytes] = turn) -> object:
                report = verify_pdf(next(turn), trust=trust, offline=True)
                assert report.verdict == "passed", report.reason
                return report

            best[name] = max(best[name], rate(one, seconds)[0])
    classic = best["classic"]
    print(f"\nverify_pdf by cross-reference kind (best of {rounds} interleaved rounds):")
    failed = False
    for name, value in best.items():
        slower = classic / value
        met = slower <= KIND_SLOWDOWN
        failed |= not met
        if name == "classic":
            print(f"  {name:<12} {value:7.1f}/s  baseline")
        else:
            verdict = "MET" if met else "NOT MET"
            print(
                f"  {name:<12} {value:7.1f}/s  time / classic {slower:.2f}x, "
                f"target <= {KIND_SLOWDOWN}x: {verdict}"
            )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per measurement")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of verify_pdf")
    args = parser.parse_args()

    trust = load_trust(development=True)
    credential = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    documents = []
    with tempfile.TemporaryDirectory() as directory:
        for number in range(DOCUMENTS):
            signed = Path(directory) / f"signed-{number}.pdf"
            sign_pdf(SAMPLE, signed, credential, SignOptions(level="b-b"))
            documents.append(signed.read_bytes())
    assert len(set(documents)) == DOCUMENTS, "each document must carry its own signature"
    data = documents[0]
    turn = itertools.cycle(documents)

    def ours() -> object:
        report = verify_pdf(next(turn), trust=trust, offline=True)
        assert report.verdict == "passed", report.reason
        return report

    def baseline() -> object:
        reader = PdfFileReader(io.BytesIO(next(turn)))
        context = ValidationContext(trust_roots=list(trust.roots))
        status = validate_pdf_signature(reader.embedded_signatures[0], context)
        assert status.bottom_line
        return status

    speedups.uninstall()
    base_rate, base_n = rate(baseline, args.seconds)
    speedups.install()
    our_rate, our_n = rate(ours, args.seconds)
    patched_base_rate, _ = rate(baseline, args.seconds)

    print(
        f"documents: {SAMPLE.name} signed B-B {DOCUMENTS} times with agency-tpd (RSA-2048), "
        f"{len(data)} bytes each, verified in turn"
    )
    print(f"cpu: {os.cpu_count()} logical, load average {os.getloadavg()[0]:.2f}")
    print(
        f"baseline pyHanko validate_pdf_signature (defaults): {base_rate:7.1f}/s  ({base_n} runs)"
    )
    print(f"  same baseline with congvan's speedups installed: {patched_base_rate:7.1f}/s")
    print(f"congvan verify_pdf (strict, offline):              {our_rate:7.1f}/s  ({our_n} runs)")
    print(f"ratio congvan / baseline: {our_rate / base_rate:.2f}x")
    verdict = "MET" if our_rate >= TARGET else "NOT MET"
    print(f"target >= {TARGET:.0f}/s per core: {verdict}")
    status = kinds_rates(trust, credential, args.seconds / 3)

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(100):
            ours()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return status if our_rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
