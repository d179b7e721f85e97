"""The command line run as a user runs it: `python -m exchange.cli` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
P12_DIR = ROOT / "certs" / "dev" / "p12"
PIN_ENV = {"CONGVAN_TEST_PIN": "congvan-dev"}


def run_cli(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """`congvan ARGS` in a new process, in the project's folder; its exit status is the caller's to
    check.

    The process gets `environ` as given (a production configuration, say), or else this process's
    environment in development mode; `env` is added on top. CONGVAN_DEBUG is removed, so errors
    read as a user sees them.
    """
    if environ is None:
        environ = {**os.environ, "CONGVAN_ENV": "development"}
    full_env = {**environ, **(env or {})}
    full_env.pop("CONGVAN_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str]) -> None:
    """The command failed with one line for the user, no traceback."""
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("congvan: ")
