"""Shared fixtures: sample documents and the development trust services over real HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"
DEV_SERVICES_HOST = "127.0.0.1"
DEV_SERVICES_PORT = 8790
DEV_SERVICES_URL = f"http://{DEV_SERVICES_HOST}:{DEV_SERVICES_PORT}"

# Tests run in development mode: the development root is trusted there and nowhere else.
os.environ.setdefault("CONGVAN_ENV", "development")


def _services_answer() -> bool:
    try:
        with urllib.request.urlopen(
            f"{DEV_SERVICES_URL}/congvan-dev/crls/ca/latest.crl", timeout=2
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _port_open() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((DEV_SERVICES_HOST, DEV_SERVICES_PORT)) == 0


@pytest.fixture(scope="session")
def dev_services() -> Iterator[str]:
    """Make sure the development TSA, OCSP and CRL services answer on 127.0.0.1:8790."""
    if _services_answer():
        yield DEV_SERVICES_URL
        return
    if _port_open():
        pytest.fail(f"port {DEV_SERVICES_PORT} is taken by something that is not the dev PKI")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange.cli",
            "dev-pki",
            "serve",
            "--port",
            str(DEV_SERVICES_PORT),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not _services_answer():
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"dev-pki serve exited with {process.returncode}: {stderr}")
            if time.monotonic() > deadline:
                pytest.fail("dev-pki serve did not answer within 30 s")
            time.sleep(0.1)
        yield DEV_SERVICES_URL
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The folder of unsigned sample documents in the official layout."""
    return DATA_DIR


@pytest.fixture(scope="session")
def sample_pdf() -> Path:
    """A one-page unsigned official letter (công văn)."""
    return DATA_DIR / "cong-van-cai-cach-hanh-chinh.pdf"


@pytest.fixture(scope="session")
def multipage_pdf() -> Path:
    """A three-page unsigned decision (quyết định)."""
    return DATA_DIR / "quyet-dinh-quy-che-van-ban-dien-tu.pdf"


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh NSS database trusting only the development root, for poppler's pdfsig."""
    from signer.devpki import dev_root_path

    for tool in ("certutil", "pdfsig", "pdftoppm", "pdftotext"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install libnss3-tools poppler-utils"
    directory = tmp_path_factory.mktemp("nss")
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "--empty-password", "-d", db], check=True)
    subprocess.run(
        ["certutil", "-A", "-n", "root", "-t", "CT,C,C", "-i", str(dev_root_path()), "-d", db],
        check=True,
    )
    return db
