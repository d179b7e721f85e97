"""What a user reads: our words in Vietnamese, a library's English only after them."""

from __future__ import annotations

import re

VIETNAMESE = re.compile(r"[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]")
# Words that start or make up the English messages of pyHanko, pdfminer and Python.
ENGLISH = re.compile(
    r"\b(the|cannot|could|error|failed|attempting|not found|invalid|unexpected|object|"
    r"stream|while|is|are|no)\b",
    re.IGNORECASE,
)


def assert_vietnamese(message: str) -> None:
    """Our words first (Vietnamese, no English sentence); the library's detail may follow."""
    own = message.split("(chi tiết:")[0]
    assert VIETNAMESE.search(own), message
    assert not ENGLISH.search(own.replace("PDF", "")), message
