# mypy: disable-error-code="no-untyped-call"
"""Form filling a certification signature permits: a blank text field, filled by any tool.

After an approval signature the verifier permits filling only the issue workflow's own blanks
(workflow.py). A certification signature with DocMDP permission 2 (fill forms) or 3 (also
annotate) says more: its signer allows the document's form to be filled afterwards, by whatever
tool the next person uses; a careful European validator accepts that, and so do we, narrowly:

- the document's certification (``/Perms /DocMDP``) is the value of one of its signature fields,
  and no other signature is older: ISO 32000 allows certification by the first signature only;
- the field is a text field that existed and was blank at the signed revision, not read-only,
  with its widget on a page, where it stays: rectangle, flags, alignment, default appearance and
  widget look unchanged, no separate widgets, a plain text value;
- its widget covers no printed character of that page as signed: what the filler's appearance
  paints (clipped to the widget) can then hide nothing the certifier read. A blank placed over
  text by whoever prepared the document is how a shadow attack would use this permission.

pyHanko's generic rule then checks that only the value and a new appearance changed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import GenericFieldModificationRule, ModificationLevel
from pyhanko.sign.diff_analysis.form_rules_api import FieldComparisonContext, FieldComparisonSpec

from signer.fields import is_workflow_field

__all__ = ["CertifiedFormFillRule", "permits_form_filling"]

# Keys a fill leaves alone; a new rectangle or flags would move or reveal the widget.
_FIXED_KEYS = ("/Rect", "/F", "/Ff", "/Q", "/DA", "/MK", "/MaxLen", "/Kids", "/P", "/Parent")
_READ_ONLY = 1
_MAX_PAGES = 10_000
_glyph_memo: dict[tuple[bytes, int], tuple[tuple[float, float, float, float], ...] | None] = {}


def permits_form_filling(old: HistoricalResolver) -> bool:
    """True when the revision's certification signature, the oldest signature, permits filling."""
    try:
        perms = old.root["/Perms"]
        certification = perms.raw_get("/DocMDP")
        if not isinstance(certification, generic.IndirectObject):
            return False
        permission = _docmdp_permission(certification.get_object())
        if permission is None or permission not in (2, 3):
            return False
        signatures = set(_signature_values(old))
        if certification.reference not in signatures:
            return False  # a /Perms entry no signature field holds certifies nothing
        xrefs = old.reader.xrefs
        certified_in = xrefs.get_introducing_revision(certification.reference)
        return all(
            xrefs.get_introducing_revision(ref) > certified_in
            for ref in signatures
            if ref != certification.reference
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return False


def _docmdp_permission(signature: Any) -> int | None:
    for reference in signature.get("/Reference", ()):
        reference = reference.get_object()
        if reference.get("/TransformMethod") == "/DocMDP":
            params = reference.get("/TransformParams", generic.DictionaryObject())
            return int(params.get("/P", 2))
    return None


def _signature_values(old: HistoricalResolver) -> Iterator[generic.Reference]:
    """References of the values of the signature fields in the revision's form."""
    form = old.root["/AcroForm"]
    pending = list(form["/Fields"])
    seen: set[generic.Reference] = set()
    while pending:
        ref = pending.pop()
        if not isinstance(ref, generic.IndirectObject) or ref.reference in seen:
            continue
        seen.add(ref.reference)
        field = ref.get_object()
        if "/Kids" in field:
            pending.extend(field["/Kids"])
        if field.get("/FT") == "/Sig" and isinstance(field.raw_get("/V"), generic.IndirectObject):
            yield field.raw_get("/V").reference


_STRINGS = (generic.TextStringObject, generic.ByteStringObject)


def _blank(field: generic.DictionaryObject) -> bool:
    value = field.get("/V")
    return value is None or (isinstance(value, _STRINGS) and not value)


def _inherited(field: generic.DictionaryObject, key: str) -> Any:
    for _ in range(32):
        if key in field:
            return field[key]
        if "/Parent" not in field:
            return None
        field = field["/Parent"]
    return None


def _unchanged(old: generic.DictionaryObject, new: generic.DictionaryObject) -> bool:
    return all(
        (key in old) == (key in new) and (key not in old or old.raw_get(key) == new.raw_get(key))
        for key in _FIXED_KEYS
    )


class CertifiedFormFillRule(GenericFieldModificationRule):  # type: ignore[misc]
    """Allow filling a blank text field where the certification signature permits filling."""

    def check_form_field(
        self, fq_name: str, spec: FieldComparisonSpec, context: FieldComparisonContext
    ) -> Iterable[tuple[ModificationLevel, Any]]:
        old, new = spec.old_field, spec.new_field
        if spec.field_type != "/Tx" or old is None or new is None or is_workflow_field(fq_name):
            return ()
        try:
            value = new.get("/V")
            if not _blank(old) or not isinstance(value, _STRINGS):
                return ()
            if int(_inherited(old, "/Ff") or 0) & _READ_ONLY or "/Rect" not in old:
                return ()
        except (TypeError, ValueError, AttributeError):
            return ()
        if not _unchanged(old, new) or not permits_form_filling(context.old):
            return ()
        if spec.old_field_ref is None or _covers_printed_text(context.old, spec.old_field_ref, old):
            return ()
        return super().check_form_field(fq_name, spec, context)  # type: ignore[no-any-return]


def _covers_printed_text(
    old: HistoricalResolver, widget: generic.Reference, field: generic.DictionaryObject
) -> bool:
    """True unless the widget lies on an upright page and over no character printed there."""
    try:
        found = _page_of(old, widget)
        if found is None:
            return True
        index, page = found
        if int(_inherited(page, "/Rotate") or 0) % 360 != 0:
            return True
        mx0, my0, _, _ = (float(v) for v in _inherited(page, "/MediaBox"))
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
        # pdfminer places the media box's lower left corner at (0, 0).
        rx0, rx1 = min(x1, x2) - mx0, max(x1, x2) - mx0
        ry0, ry1 = min(y1, y2) - my0, max(y1, y2) - my0
        glyphs = _printed_glyphs(old, index)
    except Exception:  # an unreadable page or widget: the fill is not explained
        return True
    if glyphs is None:
        return True
    return any(gx0 < rx1 and gx1 > rx0 and gy0 < ry1 and gy1 > ry0 for gx0, gy0, gx1, gy1 in glyphs)


def _page_of(
    old: HistoricalResolver, widget: generic.Reference
) -> tuple[int, generic.DictionaryObject] | None:
    """The index and dictionary of the page whose /Annots holds the widget, in page order."""
    pending: list[Any] = [old.root.raw_get("/Pages")]
    index = 0
    seen: set[generic.Reference] = set()
    while pending and index < _MAX_PAGES:
        ref = pending.pop()
        if isinstance(ref, generic.IndirectObject):
            if ref.reference in seen:
                continue
            seen.add(ref.reference)
        node = ref.get_object()
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            pending.extend(reversed(list(node.raw_get("/Kids").get_object())))
            continue
        annots = node["/Annots"] if "/Annots" in node else ()  # noqa: SIM401 - dereferences
        if any(
            isinstance(annot, generic.IndirectObject) and annot.reference == widget
            for annot in annots
        ):
            return index, node
        index += 1
    return None


def _printed_glyphs(
    old: HistoricalResolver, index: int
) -> tuple[tuple[float, float, float, float], ...] | None:
    """Boxes of the characters printed on page ``index`` of the revision, as signed."""
    from signer.pagetext import read_page_text

    prefix = _revision_bytes(old)
    key = (hashlib.sha256(prefix).digest(), index)
    if key in _glyph_memo:
        return _glyph_memo[key]
    text = read_page_text(io.BytesIO(prefix), index)
    boxes = None if text is None else tuple((g.x0, g.y0, g.x1, g.y1) for g in text.glyphs())
    if len(_glyph_memo) > 64:
        _glyph_memo.clear()
    _glyph_memo[key] = boxes
    return boxes


def _revision_bytes(old: HistoricalResolver) -> bytes:
    """The file as it was at the revision: up to the %%EOF after its cross-reference data."""
    reader = old.reader
    meta = reader.xrefs.get_xref_container_info(old.revision)
    stream = reader.stream
    stream.seek(meta.end_location)
    tail = stream.read(64 * 1024)
    end = tail.find(b"%%EOF")
    if end < 0:
        raise ValueError("the revision has no %%EOF")
    stream.seek(0)
    return bytes(stream.read(meta.end_location + end + 5))
