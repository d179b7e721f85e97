"""Output files are written beside their target, then renamed: a crash leaves no half file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from signer.errors import SignerError


def temp_beside(target: Path) -> tuple[int, str]:
    """A new private temporary file in the same folder as ``target``, so the rename is atomic."""
    try:
        return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        folder = os.fspath(target.parent) or "."
        raise SignerError(
            f"không ghi được vào thư mục {folder} (chi tiết: {error.strerror or error})"
        ) from None


def write_atomically(
    target: Path, content: bytes | Callable[[BinaryIO], object], *, mode: int = 0o644
) -> None:
    """Write ``content`` (bytes, or a function writing the file) beside ``target``, then rename."""
    descriptor, temp_name = temp_beside(target)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                content(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
