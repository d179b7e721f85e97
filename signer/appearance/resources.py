"""Fonts and images turned into PDF objects once, then copied into each signed document.

Each prepared resource lives in its own scratch PDF writer; signing a document imports the
already encoded streams (font program, image samples, soft mask) into that document's
incremental update, so no font parsing, subsetting, image decoding or compression happens per
signature.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import (
    ArrayObject,
    FloatObject,
    IndirectObject,
    NumberObject,
    PdfObject,
)
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter

from signer.errors import SigningError
from signer.messages import file_error_message

__all__ = ["PreparedFont", "PreparedImage", "load_image", "serif_font"]

# fontTools warns that it cannot subset Liberation's FFTM (FontForge timestamp) table, which
# is dropped as it should be; the warning would reach every clerk's terminal.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

POINTS_PER_INCH = 72.0
DEFAULT_DPI = 300.0
FONT_FILES = {"regular": "LiberationSerif-Regular.ttf", "bold": "LiberationSerif-Bold.ttf"}
# Every character a Vietnamese administrative text needs: ASCII, Latin-1 and Latin Extended-A
# (names of foreign places and people), ơ ư, the combined Vietnamese letters with tone marks
# (U+1EA0-U+1EF9), and typographic punctuation. Anything else is refused, never shown as boxes.
REPERTOIRE = "".join(
    [
        *map(chr, range(0x20, 0x7F)),
        # Not U+00AD: HarfBuzz shapes the soft hyphen as a space and would rename the space.
        *(chr(c) for c in range(0xA0, 0x180) if c != 0xAD),
        "ƠơƯư",
        *map(chr, range(0x1EA0, 0x1EFA)),
        "\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u2022\u2116",  # dashes, quotes, …, •, №
    ]
)


class _Template:
    """Objects written once to a small PDF and read back: pyHanko imports objects read from a file.

    Importing copies the streams' encoded bytes as they are (no decoding or recompression).
    """

    def __init__(self, writer: PdfFileWriter, ref: IndirectObject) -> None:
        buffer = io.BytesIO()
        writer.write(buffer)  # type: ignore[no-untyped-call]
        self._reader = PdfFileReader(buffer)
        self._ref = ref.reference
        self._lock = threading.Lock()  # the reader shares one stream position
        self.embed(PdfFileWriter())  # type: ignore[no-untyped-call] # resolve every object now: later imports hit the cache

    def embed(self, writer: BasePdfFileWriter) -> PdfObject:
        with self._lock:
            source = self._reader.get_object(self._ref)  # type: ignore[no-untyped-call]
            return writer.import_object(source)


@dataclass(frozen=True, eq=False)
class PreparedFont:
    """A subset of a TrueType font, embedded once into a scratch writer, with its metrics."""

    name: str
    _template: _Template = field(repr=False)
    _glyphs: dict[str, tuple[int, int]] = field(repr=False)
    units_per_em: int = 1000
    ascent: float = 0.9  # of the font size

    def embed(self, writer: BasePdfFileWriter) -> PdfObject:
        """Copy the font's objects (Type0 and all it refers to) into ``writer``."""
        return writer.add_object(self._template.embed(writer))

    def _glyph(self, char: str) -> tuple[int, int]:
        try:
            return self._glyphs[char]
        except KeyError:
            raise SigningError(
                f"phông chữ {self.name} không có ký tự {char!r} (U+{ord(char):04X}) "
                "để hiển thị chữ ký"
            ) from None

    def encode(self, text: str) -> bytes:
        """The text as a hex string of two-byte glyph ids (Identity-H), for Tj."""
        text = unicodedata.normalize("NFC", text)
        return b"<" + "".join(f"{self._glyph(ch)[0]:04X}" for ch in text).encode() + b">"

    def width(self, text: str, size: float) -> float:
        """Advance width of ``text`` at ``size`` points."""
        text = unicodedata.normalize("NFC", text)
        return sum(self._glyph(ch)[1] for ch in text) * size / self.units_per_em


def _font_bytes(style: str) -> bytes:
    return resources.files("signer").joinpath("fonts", FONT_FILES[style]).read_bytes()


@cache
def serif_font(style: str = "regular") -> PreparedFont:
    """Liberation Serif (Times New Roman metrics, SIL OFL), subset to Vietnamese, built once."""
    data = _font_bytes(style)
    template = PdfFileWriter()  # type: ignore[no-untyped-call]
    accumulator = GlyphAccumulator(template, io.BytesIO(data), font_size=10)
    tt = accumulator.tt
    cmap = tt.getBestCmap()
    hmtx = tt["hmtx"]
    units_per_em = int(tt["head"].unitsPerEm)
    ascent = float(tt["hhea"].ascent) / units_per_em
    glyphs: dict[str, tuple[int, int]] = {}
    for char in REPERTOIRE:
        glyph_name = cmap.get(ord(char))
        if glyph_name is None:
            continue
        gid = tt.getGlyphID(glyph_name)
        # The first character of a shared glyph names it in ToUnicode: a space stays a space,
        # not the no-break space drawn with the same glyph.
        if all(gid != known for known, _ in glyphs.values()):
            # One character per call: shaping a run would swap pairs such as "fi" for
            # ligatures and leave the single glyphs out of the subset.
            accumulator.shape(char, with_actual_text=False)
        glyphs[char] = (gid, hmtx[glyph_name][0])
    accumulator.prepare_write()  # type: ignore[no-untyped-call] # subsets with the original glyph ids kept
    font_ref = accumulator.as_resource()
    # PDF widths are in thousandths of the font size; pyHanko writes raw font units, which is
    # right only for 1000-unit fonts (Liberation has 2048): give every glyph its scaled width.
    type0 = font_ref.get_object()  # type: ignore[no-untyped-call]
    cid_font = type0["/DescendantFonts"][0].get_object()
    widths = ArrayObject()
    for gid, advance in sorted(set(glyphs.values())):
        widths.append(NumberObject(gid))  # type: ignore[no-untyped-call]
        width = FloatObject(round(advance * 1000 / units_per_em, 3))  # type: ignore[no-untyped-call]
        widths.append(ArrayObject([width]))
    cid_font["/W"] = widths
    return PreparedFont(
        name=f"Liberation Serif {style}",
        _template=_Template(template, font_ref),
        _glyphs=glyphs,
        units_per_em=units_per_em,
        ascent=ascent,
    )


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """A transparent PNG as an image XObject with soft mask, and its real size in points."""

    width: float
    height: float
    _template: _Template = field(repr=False)

    def embed(self, writer: BasePdfFileWriter) -> PdfObject:
        """Copy the image XObject and its soft mask into ``writer``."""
        return writer.add_object(self._template.embed(writer))

    @property
    def aspect(self) -> float:
        """Height over width."""
        return self.height / self.width


def prepare_image(data: bytes, width_mm: float | None = None) -> PreparedImage:
    """Decode a PNG and build its XObject; real size from ``width_mm`` or the file's dpi."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            dpi = opened.info.get("dpi", (DEFAULT_DPI, DEFAULT_DPI))
            image = opened.convert("RGBA")
    except UnidentifiedImageError:
        raise SigningError("ảnh chữ ký/con dấu không phải ảnh PNG đọc được") from None
    except (OSError, ValueError) as error:
        raise SigningError(f"không đọc được ảnh chữ ký/con dấu: {error}") from None
    if width_mm is not None:
        width = width_mm / 25.4 * POINTS_PER_INCH
    else:
        width = image.width / float(dpi[0] or DEFAULT_DPI) * POINTS_PER_INCH
    height = width * image.height / image.width
    template = PdfFileWriter()  # type: ignore[no-untyped-call]
    ref = pil_image(image, template)
    return PreparedImage(width=width, height=height, _template=_Template(template, ref))


_image_lock = threading.Lock()
_images: dict[tuple[str, float, float | None], PreparedImage] = {}


def load_image(path: str | os.PathLike[str], width_mm: float | None = None) -> PreparedImage:
    """Prepared image for a PNG file, built once per file version and size."""
    file = Path(path)
    try:
        key = (str(file.resolve()), file.stat().st_mtime, width_mm)
        with _image_lock:
            if key in _images:
                return _images[key]
        prepared = prepare_image(file.read_bytes(), width_mm)
    except SigningError as error:
        raise SigningError(f"{file}: {error}") from None
    except OSError as error:
        raise SigningError(file_error_message(error, f"ảnh {file}")) from None
    with _image_lock:
        return _images.setdefault(key, prepared)
