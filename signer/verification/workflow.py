"""The one kind of form filling permitted after a signature: the issue workflow's blanks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import GenericFieldModificationRule, ModificationLevel
from pyhanko.sign.diff_analysis.form_rules_api import FieldComparisonContext, FieldComparisonSpec

from signer.fields import MAX_FIELD_HEIGHT, MAX_FIELD_WIDTH, WORKFLOW_VALUE, is_workflow_field


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


class WorkflowFieldFillRule(GenericFieldModificationRule):  # type: ignore[misc]
    """Allow filling a workflow text field that was blank when signed, with a short number.

    Everything else about form fields stays forbidden after a signature: other fields, changing
    a value that was already there, a big widget, a value that is not a short number. pyHanko's
    generic rule then checks that only the value and the appearance changed.
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
        return super().check_form_field(fq_name, spec, context)  # type: ignore[no-any-return]
