"""Form fields of the issue workflow: created in the draft, filled by the clerk at issue.

The official signs a draft in which the number (số) and the day and month of issue are still
blank (Decree 30: the system assigns them at issue). The blanks are small text fields prepared
before the official signs; the clerk's issue fills them in the same revision as the agency
signature. The verifier lets exactly these fields be filled after a signature, and only in the
narrow way described here, so filling them cannot be used to hide or replace signed content.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence
from functools import cache

WORKFLOW_FIELD_PREFIX = "congvan_"
NUMBER_FIELD = "congvan_so"
DAY_FIELD = "congvan_ngay"
MONTH_FIELD = "congvan_thang"
WORKFLOW_FIELDS = (NUMBER_FIELD, DAY_FIELD, MONTH_FIELD)

# A filled value is a short number: the yearly sequence number, a day or a month.
WORKFLOW_VALUE = re.compile(r"[0-9]{1,6}")
# The widget of a workflow field sits in a blank of one text line: an appearance stream is
# clipped to it, so bounding the rectangle bounds what filling the field can paint.
MAX_FIELD_WIDTH = 72.0
MAX_FIELD_HEIGHT = 24.0


# The filled number stands on the printed line's baseline: the box reaches this fraction of the
# type size below it.
DESCENT = 0.25
# The one font a filled blank may use: the embedded Liberation Serif subset, under this name.
FONT_RESOURCE = "/CongVanSerif"


def font_size(default_appearance: str, height: float) -> float:
    """The type size named in a field's /DA ("/CongVanSerif 13 Tf 0 g"), at most the box height."""
    parts = default_appearance.split()
    size = float(parts[1]) if len(parts) > 1 else 13.0
    return min(size, height)


def filled_content(rect: Sequence[float], default_appearance: str, value: str) -> bytes:
    """The exact appearance stream content of a blank filled with ``value``.

    Issuing writes it and the verifier demands it byte for byte, so what a filled blank shows
    is always its value, in black, in our font, centred on the printed line: nothing a forger
    could use to paint over signed text.
    """
    from signer.appearance.resources import serif_font

    font = serif_font()
    x1, y1, x2, y2 = (float(v) for v in rect)
    width, height = x2 - x1, y2 - y1
    size = font_size(default_appearance, height)
    x = max(0.0, (width - font.width(value, size)) / 2)
    y = DESCENT * size
    return b"/Tx BMC q BT %s %.2f Tf 0 g %.2f %.2f Td %s Tj ET Q EMC" % (
        FONT_RESOURCE.encode(),
        size,
        x,
        y,
        font.encode(value),
    )


@cache
def font_program_digest() -> str:
    """SHA-256 of the embedded font program a filled blank must use."""
    from pyhanko.pdf_utils.writer import PdfFileWriter

    from signer.appearance.resources import serif_font

    font = serif_font().embed(PdfFileWriter()).get_object()  # type: ignore[no-untyped-call]
    descendant = font["/DescendantFonts"][0].get_object()
    program = descendant["/FontDescriptor"]["/FontFile2"].get_object()
    return normalised_font_digest(program.data)


def normalised_font_digest(program: bytes) -> str:
    """SHA-256 of a TrueType program, blind to when it was subset.

    fontTools stamps the subset's 'head' table with the time it was made, which changes the
    table's checksum and the font's checksum adjustment: those bytes are zeroed first.
    """
    data = bytearray(program)
    (tables,) = struct.unpack_from(">H", data, 4)
    for index in range(tables):
        entry = 12 + 16 * index
        tag, _, offset, length = struct.unpack_from(">4sIII", data, entry)
        if tag == b"head" and length >= 36 and offset + 36 <= len(data):
            data[entry + 4 : entry + 8] = bytes(4)  # the table's checksum
            data[offset + 8 : offset + 12] = bytes(4)  # checkSumAdjustment
            data[offset + 28 : offset + 36] = bytes(8)  # modified
    return hashlib.sha256(data).hexdigest()


def is_workflow_field(name: str) -> bool:
    """True for the names the issue workflow creates (and only those)."""
    return name in WORKFLOW_FIELDS
