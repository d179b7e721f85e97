"""Token signing across web processes: prepared on one, finished on another.

The two apps share only the database and the file store; each has its own folders. With a store
that keeps everything in memory (as an S3-compatible one keeps it elsewhere), nothing a finish
needs can come from the folder of the process that prepared.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask
from sqlalchemy import select

from exchange.api.context import EXTENSION
from exchange.app import create_app
from exchange.errors import NotFoundError
from exchange.models import User
from exchange.runtime import Runtime
from exchange.services.access import issue_token
from exchange.storage import FileStore, LocalFileStore
from signer.devpki import dev_cert_path, dev_key_path
from tests.support.world import build_world

pytestmark = pytest.mark.usefixtures("dev_services")

OFFICIAL = "official-tpd-chutich"


class MemoryStore:
    """A FileStore whose contents live in a dict shared by every web process's store.

    Each process has its own scratch and cache folders: what one writes there the other
    never sees.
    """

    def __init__(self, contents: dict[str, bytes], folder: Path) -> None:
        self.contents = contents
        self.folder = folder

    def scratch_dir(self) -> Path:
        scratch = self.folder / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def _cached(self, key: str) -> Path:
        if key not in self.contents:
            raise NotFoundError(f"không tìm thấy {key}")
        path = Path(tempfile.mkdtemp(dir=self.scratch_dir())) / "cached"
        path.write_bytes(self.contents[key])
        return path

    def put(self, stream: IO[bytes], *, max_bytes: int | None = None) -> tuple[str, int]:
        data = stream.read()
        sha256 = hashlib.sha256(data).hexdigest()
        self.contents[sha256] = data
        return sha256, len(data)

    def put_file(self, path: Path) -> tuple[str, int]:
        with path.open("rb") as stream:
            return self.put(stream)

    def open(self, sha256: str) -> BinaryIO:
        if sha256 not in self.contents:
            raise NotFoundError(f"không tìm thấy {sha256}")
        return io.BytesIO(self.contents[sha256])

    def local_path(self, sha256: str) -> Path:
        return self._cached(sha256)

    def put_named(self, name: str, path: Path) -> None:
        self.contents[name] = path.read_bytes()

    def named_path(self, name: str) -> Path:
        return self._cached(name)

    def delete_named(self, name: str) -> None:
        self.contents.pop(name, None)


def _stores(kind: str, tmp_path: Path) -> tuple[FileStore, FileStore]:
    """Two web processes' views of one store."""
    if kind == "memory":
        contents: dict[str, bytes] = {}
        return MemoryStore(contents, tmp_path / "one"), MemoryStore(contents, tmp_path / "two")
    return LocalFileStore(tmp_path / "shared"), LocalFileStore(tmp_path / "shared")


@pytest.fixture(params=["memory", "local"])
def two_apps(
    request: pytest.FixtureRequest, engine: Any, runtime: Runtime, tmp_path: Path
) -> Iterator[tuple[Flask, Flask]]:
    """Two instances of the service on the one database, each with its own data folder."""
    apps = []
    for index, store in enumerate(_stores(request.param, tmp_path)):
        settings = runtime.settings.with_overrides(data_dir=tmp_path / f"process-{index}")
        app = create_app(settings, runtime=Runtime(settings, store, runtime.trust))
        app.config["TESTING"] = True
        apps.append(app)
    try:
        yield apps[0], apps[1]
    finally:
        for app in apps:
            app.extensions[EXTENSION].engine.dispose()


def _headers(session_factory: Any, username: str) -> dict[str, str]:
    with session_factory() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        token = issue_token(session, user, "test")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _token_sign(to_be_signed: str) -> str:
    """What the official's token returns: RSASSA-PSS (SHA-256, 32-byte salt), in base64."""
    key = serialization.load_pem_private_key(dev_key_path(OFFICIAL).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    signature = key.sign(base64.b64decode(to_be_signed), pss, hashes.SHA256())
    return base64.b64encode(signature).decode()


def test_prepared_on_one_process_finished_on_another(
    two_apps: tuple[Flask, Flask],
    session_factory: Any,
    runtime: Runtime,
    sample_pdf: Path,
) -> None:
    first, second = (app.test_client() for app in two_apps)
    build_world(session_factory, runtime.settings.data_dir, runtime)
    clerk = _headers(session_factory, "tpd.vanthu")
    chief = _headers(session_factory, "tpd.chutich")
    upload = {
        "document_type": "Công văn",
        "notation": "UBND-VP",
        "subject": "Ký bằng token qua hai tiến trình",
        "file": (io.BytesIO(sample_pdf.read_bytes()), "van-ban.pdf"),
    }
    created = first.post(
        "/api/v1/documents", data=upload, headers=clerk, content_type="multipart/form-data"
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    document_id = created.get_json()["id"]

    prepared = first.post(
        f"/api/v1/documents/{document_id}/sign/prepare",
        json={"certificate": dev_cert_path(OFFICIAL).read_text()},
        headers=chief,
    )
    assert prepared.status_code == 200, prepared.get_data(as_text=True)
    answer = prepared.get_json()
    assert answer["algorithm"] == "rsassa-pss-sha256"
    # The first process's own folders go away, as they would with the process or its machine.
    first_store = two_apps[0].extensions[EXTENSION].runtime.store
    if isinstance(first_store, MemoryStore):
        shutil.rmtree(first_store.folder)

    finished = second.post(
        f"/api/v1/documents/{document_id}/sign/finish",
        json={"signature": _token_sign(answer["to_be_signed"])},
        headers=chief,
    )
    assert finished.status_code == 200, finished.get_data(as_text=True)
    assert finished.get_json()["state"] == "signed"
    signed = second.get(f"/api/v1/documents/{document_id}/file", headers=clerk)
    assert signed.status_code == 200 and signed.data.startswith(b"%PDF")
    assert signed.data != sample_pdf.read_bytes()
    # The work in progress is gone from the store once the signature is in.
    for name in (f"token-signing/{document_id}.pdf", f"token-signing/{document_id}.state.json"):
        with pytest.raises(NotFoundError):
            first_store.named_path(name)
