"""The same one-page document with each kind of cross-reference data agencies' files carry.

- ``classic``: the LibreOffice sample as it is (a classic xref table), the baseline;
- ``xref-stream``: rewritten by qpdf with object streams and a cross-reference stream (Acrobat,
  iText, PDFBox);
- ``hybrid``: a classic table with an ``/XRefStm`` companion stream, as Word and Excel write
  (made by ``tests/support/hybrid.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "cong-van-cai-cach-hanh-chinh.pdf"
sys.path.insert(0, str(ROOT / "tests"))

from hybrid import make_hybrid  # noqa: E402


def xref_stream_variant(pdf: bytes) -> bytes:
    """``pdf`` rewritten by qpdf with object streams and a cross-reference stream."""
    if shutil.which("qpdf") is None:
        raise SystemExit("bench: qpdf is missing (apt-get install qpdf, or run .ci/setup)")
    with tempfile.TemporaryDirectory(prefix="congvan-bench-") as temp:
        source, target = Path(temp) / "in.pdf", Path(temp) / "out.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["qpdf", "--object-streams=generate", str(source), str(target)],
            check=True,
            timeout=60,
        )
        return target.read_bytes()


def variants(pdf: bytes | None = None) -> dict[str, bytes]:
    """Name -> file, the classic baseline first."""
    pdf = pdf if pdf is not None else SAMPLE.read_bytes()
    return {"classic": pdf, "xref-stream": xref_stream_variant(pdf), "hybrid": make_hybrid(pdf)}
