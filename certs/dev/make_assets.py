"""Generate the development seal and signature images (DEVELOPMENT ONLY, invented designs).

Run: .venv/bin/python certs/dev/make_assets.py

One red round seal per development agency (agency-*.png: the agency's name around the rim, a star in
the middle, 40 mm across) and one blue handwritten-looking signature per development official
(official-*.png, 45 mm wide), both transparent PNGs at 300 dpi with the resolution recorded in the
file, so the appearance code can draw them at real size. Names come from the certificates.
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
FONTS = HERE.parent.parent / "signer" / "fonts"
DPI = 300
SUPERSAMPLE = 3  # drawn larger, then reduced: smooth edges without an anti-aliasing library
# The signature is the regular face slanted below: no extra font file to ship.
ITALIC = FONTS / "LiberationSerif-Regular.ttf"
SEAL_MM = 40.0
SIGNATURE_MM = (45.0, 20.0)
RED = (210, 25, 30)
BLUE = (20, 45, 170)


def mm_to_px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


def subject_value(cert_path: Path, oid: x509.ObjectIdentifier) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return str(cert.subject.get_attributes_for_oid(oid)[0].value)


def rim_text(agency: str) -> str:
    # Seals read "ỦY BAN NHÂN DÂN HUYỆN …" in capitals; a separator dot closes the ring.
    return agency.upper()


def star_points(cx: float, cy: float, outer: float) -> list[tuple[float, float]]:
    inner = outer * 0.382
    points = []
    for k in range(10):
        radius = outer if k % 2 == 0 else inner
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def draw_seal(agency: str) -> Image.Image:
    size = mm_to_px(SEAL_MM) * SUPERSAMPLE
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = size / 2
    outer_width = size * 0.025
    draw.ellipse((0, 0, size - 1, size - 1), outline=RED, width=round(outer_width))
    inner_r = size * 0.33
    draw.ellipse(
        (c - inner_r, c - inner_r, c + inner_r, c + inner_r), outline=RED, width=round(size * 0.01)
    )
    draw.polygon(star_points(c, c * 0.97, inner_r * 0.62), fill=RED)
    small = ImageFont.truetype(str(FONTS / "LiberationSerif-Bold.ttf"), round(size * 0.045))
    draw.text((c, c + inner_r * 0.62), "MẪU THỬ", font=small, fill=RED, anchor="mm")

    text = rim_text(agency)
    font = ImageFont.truetype(str(FONTS / "LiberationSerif-Bold.ttf"), round(size * 0.075))
    text_radius = size * 0.41
    widths = [font.getlength(ch) for ch in text]
    spacing = font.getlength(" ") * 0.35
    total = sum(widths) + spacing * (len(text) - 1)
    # Arc length available: the whole circle less a gap at the bottom for the separator.
    arc = 2 * math.pi * text_radius * 0.86
    scale = min(1.0, arc / total)
    angle = -math.pi / 2 - (total * scale / text_radius) / 2  # centred on the top
    for ch, width in zip(text, widths, strict=True):
        step = width * scale / text_radius
        middle = angle + step / 2
        glyph = Image.new("RGBA", (round(size * 0.14), round(size * 0.14)), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text(
            (glyph.width / 2, glyph.height / 2), ch, font=font, fill=RED, anchor="mm"
        )
        rotated = glyph.rotate(-math.degrees(middle + math.pi / 2), resample=Image.BICUBIC)
        x = c + text_radius * math.cos(middle) - rotated.width / 2
        y = c + text_radius * math.sin(middle) - rotated.height / 2
        image.alpha_composite(rotated, (round(x), round(y)))
        angle += step + spacing * scale / text_radius
    bottom = c + text_radius
    draw.polygon(star_points(c, bottom, size * 0.02), fill=RED)
    return image.resize((size // SUPERSAMPLE, size // SUPERSAMPLE), Image.LANCZOS)


def draw_signature(name: str) -> Image.Image:
    width, height = (mm_to_px(v) * SUPERSAMPLE for v in SIGNATURE_MM)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    # Same name, same signature: seeded from the name.
    rng = random.Random(hashlib.sha256(name.encode()).digest())
    given = name.split()[-1]
    font = ImageFont.truetype(str(ITALIC), round(height * 0.48))
    stroke = max(2, round(height * 0.022))
    text_layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(text_layer).text(
        (width * 0.12, height * 0.18),
        given,
        font=font,
        fill=BLUE,
        stroke_width=stroke // 2,
        stroke_fill=BLUE,
    )
    # A forward slant, as handwriting has.
    text_layer = text_layer.transform(
        text_layer.size, Image.AFFINE, (1, 0.35, -height * 0.15, 0, 1, 0), resample=Image.BICUBIC
    )
    image.alpha_composite(text_layer)
    # An underline flourish: a sweeping cubic from the left, then back up to the right.
    p0 = (width * 0.05, height * (0.80 + rng.uniform(-0.05, 0.05)))
    p1 = (width * 0.35, height * (0.98 + rng.uniform(-0.05, 0.0)))
    p2 = (width * 0.70, height * (0.55 + rng.uniform(-0.1, 0.1)))
    p3 = (width * 0.95, height * (0.35 + rng.uniform(-0.1, 0.1)))
    points = []
    for k in range(200):
        t = k / 199
        x = (1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * p1[0] + 3 * (1 - t) * t**2 * p2[0]
        y = (1 - t) ** 3 * p0[1] + 3 * (1 - t) ** 2 * t * p1[1] + 3 * (1 - t) * t**2 * p2[1]
        points.append((x + t**3 * p3[0], y + t**3 * p3[1]))
    for k in range(len(points) - 1):
        # Pen pressure: thicker in the middle of the stroke.
        t = k / len(points)
        w = round(stroke * (0.6 + 1.2 * math.sin(math.pi * t)))
        draw.line((points[k], points[k + 1]), fill=BLUE, width=w)
    small = (width // SUPERSAMPLE, height // SUPERSAMPLE)
    return image.resize(small, Image.LANCZOS)


def main() -> int:
    certs = HERE / "certs"
    out = HERE / "assets"
    out.mkdir(exist_ok=True)
    count = 0
    for cert_path in sorted(certs.glob("*.cert.pem")):
        label = cert_path.name.removesuffix(".cert.pem")
        if label.startswith("agency-"):
            image = draw_seal(subject_value(cert_path, NameOID.ORGANIZATION_NAME))
        elif label.startswith("official-"):
            image = draw_signature(subject_value(cert_path, NameOID.COMMON_NAME))
        else:
            continue
        image.save(out / f"{label}.png", dpi=(DPI, DPI), optimize=True)
        count += 1
    print(f"{count} images written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
