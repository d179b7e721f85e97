"""Input documents made for the tests: password-protected exports and scans."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pikepdf

from signer.appearance import Placement

# Where the signer's image goes when a page (a scan) has no text to find the signer block by.
SIGNATURE_PLACE = Placement(0, 345, 171.5, 150, 77.6)

# The blanks of cong-van-cai-cach-hanh-chinh.pdf, as a person measures them on its scan.
SCAN_BOXES = {
    "number_box": "129.6,697.5,23,15.6",
    "day_box": "392.4,697.3,16.5,15.6",
    "month_box": "441.5,697.3,16.5,15.6",
}


def encrypt(source: Path, target: Path, *, user: str = "", r: int = 6) -> Path:
    """``source`` encrypted as "protected" exports are: an owner password, a user password."""
    with pikepdf.open(source) as pdf:
        pdf.save(target, encryption=pikepdf.Encryption(owner="chu-so-huu", user=user, R=r))
    return target


def make_scan(sample: Path, folder: Path) -> Path:
    """Page 1 of ``sample``, printed and scanned: a picture at 150 dpi, no text at all."""
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(sample), str(folder / "p")],
        check=True,
    )
    (image,) = folder.glob("p*.png")
    out = folder / "scan.pdf"
    # img2pdf (Debian's package, in CI's setup) wraps the picture without re-encoding it.
    subprocess.run(["img2pdf", "--imgsize", "150dpi", "-o", str(out), str(image)], check=True)
    return out
