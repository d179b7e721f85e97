"""Output files are written beside their target, then renamed: a crash leaves no half file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from signer.errors import SignerError

NEW_FILE_MODE = 0o644


def temp_beside(target: Path) -> tuple[int, str]:
    """A new private temporary file in the same folder as ``target``, so the rename is atomic."""
    try:
        return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        folder = os.fspath(target.parent) or "."
        raise SignerError(
            f"không ghi được vào thư mục {folder} (chi tiết: {error.strerror or error})"
        ) from None


def existing_mode(target: Path) -> int:
    """The permission bits of ``target`` if it exists (a rewritten file keeps them), else 0644."""
    return target.stat().st_mode & 0o777 if target.exists() else NEW_FILE_MODE


@contextmanager
def atomic_output(target: Path, *, mode: int = NEW_FILE_MODE) -> Iterator[BinaryIO]:
    """A new file beside ``target``, open to write and read back, that becomes ``target``.

    When the block succeeds the file is flushed to disk and renamed over ``target``; when it
    raises, the file is removed and ``target`` is untouched. ``mode`` replaces the private
    0600 that the temporary file is created with.
    """
    descriptor, temp_name = temp_beside(target)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_atomically(
    target: Path, content: bytes | Callable[[BinaryIO], object], *, mode: int = NEW_FILE_MODE
) -> None:
    """Write ``content`` (bytes, or a function writing the file) beside ``target``, then rename."""
    with atomic_output(target, mode=mode) as handle:
        if isinstance(content, bytes):
            handle.write(content)
        else:
            content(handle)
