"""What `congvan serve` and `congvan dev-pki serve` share: their socket and how they stop."""

from __future__ import annotations

import signal
import socket
from types import FrameType

from exchange.cli.errors import fail


def listening_socket(host: str, port: int, *, hint: str = "") -> socket.socket:
    """A socket bound to host:port, before anything slow starts; fail clearly when it is taken."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as error:
        fail(f"không mở được cổng {host}:{port}: {error.strerror or error}{hint}")


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM stops the server as Ctrl-C does (werkzeug returns from serve_forever)."""
    signal.signal(signal.SIGTERM, _stop)


def base_url(host: str, port: int) -> str:
    """http://host:port, an IPv6 host in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
