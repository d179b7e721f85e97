"""Visible-signature benchmark: naive per-call appearances against prepared resources, same run.

Run: .venv/bin/python bench/bench_appearance.py [--seconds N]

Baseline: what a straightforward pyHanko user writes for a Vietnamese visible signature: load the
key file, build a TextStampStyle with a GlyphAccumulatorFactory on the TTF and the signature PNG as
background (font parsed, shaped and subset, image decoded and compressed for every signature),
sign with a fixed box. Ours: signer.sign_pdf with the credential loaded once and
signer.appearance resources (font subset, image XObjects) prepared once, the document layout found
once. Target: >= 8x. Also shown, not judged: the same without any appearance, with find_layout run
for every signature, and the naive appearance with a pre-loaded key.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory  # noqa: E402
from pyhanko.pdf_utils.images import PdfImage  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.pdf_utils.text import TextBoxStyle  # noqa: E402
from pyhanko.sign import fields, signers  # noqa: E402
from pyhanko.sign.fields import SigSeedSubFilter  # noqa: E402
from pyhanko.stamp import TextStampStyle  # noqa: E402

from signer.appearance import Appearance, dev_image_path, load_image  # noqa: E402
from signer.credentials import load_credential  # noqa: E402
from signer.devpki import (  # noqa: E402
    DEV_PASSPHRASE,
    dev_ca_path,
    dev_cert_path,
    dev_key_path,
    dev_p12_path,
)
from signer.layout import find_layout  # noqa: E402
from signer.signing import SignOptions, sign_pdf  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "cong-van-cai-cach-hanh-chinh.pdf"
LABEL = "official-tpd-chutich"  # RSA-2048
FONT = ROOT / "signer" / "fonts" / "LiberationSerif-Regular.ttf"


def rate(action: Callable[[], object], seconds: float, at_least: int = 3) -> float:
    """Signatures per second of ``action`` over about ``seconds`` (after one warm-up call)."""
    action()
    count, start = 0, time.perf_counter()
    while count < at_least or time.perf_counter() - start < seconds:
        action()
        count += 1
    return count / (time.perf_counter() - start)


def naive_signer() -> signers.SimpleSigner:
    return signers.SimpleSigner.load(
        str(dev_key_path(LABEL)),
        str(dev_cert_path(LABEL)),
        ca_chain_files=(str(dev_ca_path()),),
        prefer_pss=True,
    )


def naive_sign(
    pdf: bytes, box: tuple[int, int, int, int], page: int, signer: signers.Signer | None
) -> None:
    """Everything per call: key (unless given), font, image, stamp style."""
    signer = signer or naive_signer()
    style = TextStampStyle(
        stamp_text=(
            "Ký bởi: %(signer)s\nCơ quan: Ủy ban nhân dân huyện Tân Phú Đông\nThời gian: %(ts)s"
        ),
        timestamp_format="%Y-%m-%dT%H:%M:%S+07:00",
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(FONT)), font_size=6),
        background=PdfImage(str(dev_image_path(LABEL))),
        background_opacity=1.0,
        border_width=0,
    )
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES)
    pdf_signer = signers.PdfSigner(
        meta,
        signer,
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec("Signature1", on_page=page, box=box),
    )
    pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each rate run")
    args = parser.parse_args()
    pdf = SAMPLE.read_bytes()
    print(f"1-page PDF {SAMPLE.name}, RSA-2048 official {LABEL}", flush=True)

    layout = find_layout(pdf)
    credential = load_credential(dev_p12_path(LABEL), DEV_PASSPHRASE)
    image = load_image(dev_image_path(LABEL))
    visible = SignOptions(appearance=Appearance("official", image=image, layout=layout))
    found_each_time = SignOptions(appearance=Appearance("official", image=image))
    # Same place for both: the rectangle our layout finds.
    probe = io.BytesIO()
    sign_pdf(io.BytesIO(pdf), probe, credential, visible)
    assert layout.signature_gap is not None and layout.signer_page is not None
    gap = layout.signature_gap
    box = (int(gap.x), int(gap.y), int(gap.right), int(gap.top))

    naive = rate(lambda: naive_sign(pdf, box, layout.signer_page or 0, None), args.seconds)
    ours = rate(lambda: sign_pdf(io.BytesIO(pdf), io.BytesIO(), credential, visible), args.seconds)
    preloaded = naive_signer()
    naive_key_once = rate(
        lambda: naive_sign(pdf, box, layout.signer_page or 0, preloaded), args.seconds
    )
    invisible = rate(lambda: sign_pdf(io.BytesIO(pdf), io.BytesIO(), credential), args.seconds)
    with_layout = rate(
        lambda: sign_pdf(io.BytesIO(pdf), io.BytesIO(), credential, found_each_time), args.seconds
    )
    ratio = ours / naive
    rows = [
        ("naive visible, pyHanko per call (sig/s)", f"{naive:.1f}", "baseline", True),
        ("  = ms per naive signature", f"{1000 / naive:.1f}", "", True),
        ("ours visible, prepared (sig/s)", f"{ours:.1f}", "", True),
        ("  = ms per signature", f"{1000 / ours:.1f}", "", True),
        ("speed-up", f"{ratio:.1f}x", ">= 8x", ratio >= 8),
        ("(info) naive appearance, key loaded once (sig/s)", f"{naive_key_once:.1f}", "", True),
        ("(info) speed-up against it", f"{ours / naive_key_once:.1f}x", "", True),
        ("(info) ours invisible (sig/s)", f"{invisible:.1f}", "", True),
        ("(info) ours visible + find_layout per call (sig/s)", f"{with_layout:.1f}", "", True),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'value':>10}  {'target':>9}  result")
    for name, value, target, ok in rows:
        verdict = "" if not target or target == "baseline" else ("PASS" if ok else "FAIL")
        print(f"{name:<{width}}  {value:>10}  {target:>9}  {verdict}")
    return 0 if all(ok for _, _, _, ok in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
