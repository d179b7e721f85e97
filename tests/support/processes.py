"""The service and its helpers run as processes: free ports, a clean environment, plain HTTP."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh machine: no CONGVAN_* settings but the ones given.

    CONGVAN_DEV_SERVICES_URL stays: it says where this run's development services are, not how
    congvan is configured (tests/conftest.py:dev_services).
    """
    kept = ("CONGVAN_DEV_SERVICES_URL",)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONGVAN_") or k in kept}
    return {**env, **extra}


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
