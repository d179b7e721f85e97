"""Output files are written beside their target, then renamed: a crash leaves no half file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from signer.errors import SignerError


def temp_beside(target: Path) -> tuple[int, str]:
    """A new private temporary file in the same folder as ``target``, so the rename is atomic."""
    try:
        return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        folder = os.fspath(target.parent) or "."
        raise SignerError(f"không ghi được vào thư mục {folder}: {error.strerror}") from None
