"""Where file contents live: stored once by SHA-256, whatever refers to them.

`LocalFileStore` is the embedded default; an S3-compatible store implements the same `FileStore`
protocol. Contents are written before the database row that refers to them is committed, so a
crash leaves at most an unreferenced file, never a row without its file.

Besides contents by SHA-256, a store keeps a few files by name ("token-signing/ID.pdf"): work in
progress that one process writes and another finishes, such as a signature an official's token
is making. They live in the store, never in a process's own folder, so any web process may
finish what another began.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from exchange.errors import NotFoundError, PayloadTooLargeError
from signer.files import write_atomically

CHUNK = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9-]+/[A-Za-z0-9_-][A-Za-z0-9._-]*")


class FileStore(Protocol):
    def put(self, stream: IO[bytes], *, max_bytes: int | None = None) -> tuple[str, int]:
        """Store the stream's bytes; return their SHA-256 (hex) and size."""
        ...

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file's bytes (moved or copied); return their SHA-256 (hex) and size."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """Read stored bytes; NotFoundError when there are none."""
        ...

    def local_path(self, sha256: str) -> Path:
        """A local file holding the bytes (a store without local files copies to a cache)."""
        ...

    def scratch_dir(self) -> Path:
        """A folder for temporary files on the same file system as the store."""
        ...

    def put_named(self, name: str, path: Path) -> None:
        """Keep a file's bytes under `name` ("folder/file"), replacing any kept there before."""
        ...

    def named_path(self, name: str) -> Path:
        """A local file holding the bytes kept under `name`; NotFoundError when there are none."""
        ...

    def delete_named(self, name: str) -> None:
        """Forget the bytes kept under `name`, if any."""
        ...


class LocalFileStore:
    """Files under a folder, as `ab/cd/abcd…` by SHA-256, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise NotFoundError("mã tệp không hợp lệ")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def scratch_dir(self) -> Path:
        scratch = self.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def put(self, stream: IO[bytes], *, max_bytes: int | None = None) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        descriptor, temp_name = tempfile.mkstemp(dir=self.scratch_dir(), suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as temp:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLargeError(
                            f"tệp vượt quá giới hạn {max_bytes // (1024 * 1024)} MiB"
                        )
                    digest.update(chunk)
                    temp.write(chunk)
                temp.flush()
                os.fsync(temp.fileno())
            sha256 = digest.hexdigest()
            self._settle(Path(temp_name), sha256)
        finally:
            Path(temp_name).unlink(missing_ok=True)
        return sha256, size

    def put_file(self, path: Path) -> tuple[str, int]:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        sha256 = digest.hexdigest()
        size = path.stat().st_size
        if path.parent.resolve() == self.scratch_dir().resolve():
            self._settle(path, sha256)
        else:
            with path.open("rb") as source:
                stored, _ = self.put(source)
            assert stored == sha256
        return sha256, size

    def _settle(self, temp: Path, sha256: str) -> None:
        target = self._path(sha256)
        if target.exists():
            temp.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(temp, 0o644)
        os.replace(temp, target)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self._path(sha256).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"không tìm thấy tệp {sha256[:12]}… trong kho lưu trữ") from None

    def local_path(self, sha256: str) -> Path:
        path = self._path(sha256)
        if not path.is_file():
            raise NotFoundError(f"không tìm thấy tệp {sha256[:12]}… trong kho lưu trữ")
        return path

    def _named(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid stored name {name!r}")
        return self.root / name

    def put_named(self, name: str, path: Path) -> None:
        target = self._named(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as source:
            write_atomically(target, lambda out: shutil.copyfileobj(source, out, CHUNK))

    def named_path(self, name: str) -> Path:
        path = self._named(name)
        if not path.is_file():
            raise NotFoundError(f"không tìm thấy {name} trong kho lưu trữ")
        return path

    def delete_named(self, name: str) -> None:
        self._named(name).unlink(missing_ok=True)

    def copy_to(self, sha256: str, target: Path) -> None:
        with self.open(sha256) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
