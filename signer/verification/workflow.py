"""The one kind of form filling permitted after a signature: the issue workflow's blanks."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import GenericFieldModificationRule, ModificationLevel
from pyhanko.sign.diff_analysis.form_rules_api import FieldComparisonContext, FieldComparisonSpec

from signer.fields import (
    FONT_RESOURCE,
    MAX_FIELD_HEIGHT,
    MAX_FIELD_WIDTH,
    WORKFLOW_VALUE,
    filled_content,
    font_program_digest,
    is_workflow_field,
    normalised_font_digest,
)

# Keys a fill may not touch even though pyHanko's generic rule would let them change: a new
# /DA colour or font would repaint the value when a viewer regenerates the appearance.
_FIXED_KEYS = ("/DA", "/F", "/Ff", "/Q", "/MK")
# The default appearance prepare_draft writes: one font, a size, black.
_BLACK_DA = re.compile(r"\s*/[^\s/]+\s+[0-9]+(\.[0-9]+)?\s+Tf\s+0\s+g\s*")


def _value(field: generic.DictionaryObject) -> str:
    value = field.get("/V")
    return "" if value is None else str(value)


def _small_widget(field: generic.DictionaryObject) -> bool:
    """The field is its own single widget, on one line of text."""
    if "/Kids" in field or "/Rect" not in field:
        return False
    try:
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
    except (TypeError, ValueError):
        return False
    return 0 < abs(x2 - x1) <= MAX_FIELD_WIDTH and 0 < abs(y2 - y1) <= MAX_FIELD_HEIGHT


def _font_is_ours(font: generic.DictionaryObject) -> bool:
    """The font is our embedded Liberation Serif subset, with glyph ids used as they are."""
    if font.get("/Subtype") != "/Type0" or font.get("/Encoding") != "/Identity-H":
        return False
    descendant = font["/DescendantFonts"][0].get_object()
    if descendant.get("/CIDToGIDMap") != "/Identity":
        return False
    program = descendant["/FontDescriptor"]["/FontFile2"].get_object()
    return normalised_font_digest(program.data) == font_program_digest()


def _plain_appearance(field: generic.DictionaryObject) -> bool:
    """The appearance is exactly the issue's: the value, black, in our font, on the line."""
    try:
        appearance = field["/AP"]
        if set(appearance.keys()) != {"/N"}:
            return False
        stream = appearance["/N"]
        if not isinstance(stream, generic.StreamObject) or "/Matrix" in stream:
            return False
        resources = stream["/Resources"]
        if set(resources.keys()) != {"/Font"} or set(resources["/Font"].keys()) != {FONT_RESOURCE}:
            return False
        if not _font_is_ours(resources["/Font"][FONT_RESOURCE]):
            return False
        expected = filled_content(field["/Rect"], str(field["/DA"]), _value(field))
        return bool(stream.data == expected)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return False


def _unchanged_presentation(old: generic.DictionaryObject, new: generic.DictionaryObject) -> bool:
    """The fill changed neither how the value is drawn nor whether it is shown."""
    for key in _FIXED_KEYS:
        if (key in old) != (key in new) or (key in old and old.raw_get(key) != new.raw_get(key)):
            return False
    return "/DA" not in new or _BLACK_DA.fullmatch(str(new["/DA"])) is not None


class WorkflowFieldFillRule(GenericFieldModificationRule):  # type: ignore[misc]
    """Allow filling a workflow text field that was blank when signed, with a short number.

    Everything else about form fields stays forbidden after a signature: other fields, changing
    a value that was already there, a big widget, a value that is not a short number, an
    appearance that paints anything but black text. pyHanko's generic rule then checks that
    only the value and the appearance changed.
    """

    def check_form_field(
        self, fq_name: str, spec: FieldComparisonSpec, context: FieldComparisonContext
    ) -> Iterable[tuple[ModificationLevel, Any]]:
        old, new = spec.old_field, spec.new_field
        if spec.field_type != "/Tx" or old is None or new is None or not is_workflow_field(fq_name):
            return ()
        if _value(old) or not WORKFLOW_VALUE.fullmatch(_value(new)):
            return ()
        if not (_small_widget(old) and _small_widget(new)) or old.get("/Rect") != new.get("/Rect"):
            return ()
        # A filled blank drawn in white (or as an image) could cover signed text that lies
        # under the widget: the draft's author chooses where the widget sits.
        if not (_unchanged_presentation(old, new) and _plain_appearance(new)):
            return ()
        return super().check_form_field(fq_name, spec, context)  # type: ignore[no-any-return]
