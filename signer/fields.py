"""Form fields of the issue workflow: created in the draft, filled by the clerk at issue.

The official signs a draft in which the number (số) and the day and month of issue are still
blank (Decree 30: the system assigns them at issue). The blanks are small text fields prepared
before the official signs; the clerk's issue fills them in the same revision as the agency
signature. The verifier lets exactly these fields be filled after a signature, and only in the
narrow way described here, so filling them cannot be used to hide or replace signed content.
"""

from __future__ import annotations

import re

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


def is_workflow_field(name: str) -> bool:
    """True for the names the issue workflow creates (and only those)."""
    return name in WORKFLOW_FIELDS
