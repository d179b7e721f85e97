"""The development trust services (TSA, OCSP, CRL): their WSGI app, found or started when needed.

DEVELOPMENT ONLY. `make_dev_services_app` serves the development PKI in certs/dev
(signer/devpki.py) with certomancer: its TSA, OCSP responder, CRLs and certificates. They answer
at the built-in address the development certificates name, http://127.0.0.1:8790, or wherever
CONGVAN_DEV_SERVICES_URL says (Settings.dev_services); in development every request congvan
makes to the built-in address goes there (signer/fetching.py, handed the settings' DevServices).
`congvan dev-pki serve` runs them on their own; `congvan serve` and `congvan demo` start them
in-process when nothing answers, on the built-in port, or on a free one when something else
holds it (and then set the variable for the processes they start, and hand the address to their
own requests). `congvan sign` and `congvan issue` only use them, and say how to start them when
they do not answer.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from signer.devpki import (
    CHECKOUT_PKI_DIR,
    DEV_ARCH,
    DEV_CONFIG_FILE,
    DEV_HOST,
    DEV_PORT,
    DEV_SERVICES_ENV,
    DEV_SERVICES_URL,
    DEV_TSA_URL,
    DevServices,
    dev_health_url,
)
from signer.errors import TrustServiceError

log = logging.getLogger("congvan.dev_services")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HEALTH_PATH = "/healthz"
SIGNING_LABELS = ("vn-dev-root", "vn-dev-ca", "tsa", "ocsp")


class DevPkiError(Exception):
    """The development PKI on disk cannot be served (or regenerated) as it is."""


class DevServicesUnavailableError(TrustServiceError):
    """The development trust services do not answer where signing expects them."""


def services_answer(base: str, timeout: float = 2.0) -> bool:
    """True when the development services answer at `base`."""
    try:
        with urllib.request.urlopen(dev_health_url(base), timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def unavailable_message(base: str) -> str:
    """What to tell a user whose signature needs the development services at `base`."""
    where = "" if base == DEV_SERVICES_URL else f" (theo {DEV_SERVICES_ENV})"
    return (
        f"dịch vụ tin cậy phát triển (dấu thời gian, OCSP, CRL) không chạy tại {base}{where}: "
        "hãy chạy `congvan dev-pki serve` trong một cửa sổ khác rồi làm lại; nếu chúng chạy ở "
        f"cổng khác, đặt {DEV_SERVICES_ENV}=http://127.0.0.1:CỔNG; "
        "muốn ký không cần dấu thời gian thì dùng --level b-b"
    )


def require_dev_services(tsa_url: str | None, level: str, services: DevServices) -> None:
    """Before signing in development with the development TSA: stop clearly when it is down.

    A signature level above B-B needs the TSA (and B-LT its OCSP and CRL). Signing does not fall
    back to B-B on its own: the document would silently be weaker than the one asked for.
    """
    if level == "b-b" or tsa_url not in (DEV_TSA_URL, services.tsa_url):
        return
    if not services_answer(services.url):
        raise DevServicesUnavailableError(unavailable_message(services.url))


def _load_architecture(pki_dir: Path) -> Any:
    import yaml  # type: ignore[import-untyped]
    from certomancer.config_utils import ConfigurationError
    from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig, KeyLabel

    config_path = pki_dir / DEV_CONFIG_FILE
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        # Serve the committed certificates themselves rather than re-issuing them: what the
        # services say is then exactly what signers embed, and start-up costs no signing.
        for label, spec in raw["pki-architectures"][DEV_ARCH]["certs"].items():
            spec["certificate-file"] = f"certs/{label}.cert.pem"
        # Lazy keys: loading an RSA key costs ~50 ms and the services use only a few of them.
        config = CertomancerConfig(
            raw, key_search_dir=str(pki_dir), config_search_dir=str(pki_dir), lazy_load_keys=True
        )
        arch = config.get_pki_arch(ArchLabel(DEV_ARCH))
        # The keys that sign answers must belong to the committed certificates, or every
        # OCSP, CRL and timestamp signature would fail to verify.
        for label in SIGNING_LABELS:
            certified = arch.get_cert(CertLabel(label)).public_key.dump()
            if arch.key_set.get_public_key(KeyLabel(label)).dump() != certified:
                raise DevPkiError(
                    f"khóa keys/{label}.key.pem không khớp chứng thư certs/{label}.cert.pem "
                    f"trong {pki_dir}; hãy chạy `congvan dev-pki generate`"
                )
    except (OSError, KeyError, TypeError, ConfigurationError) as error:
        raise DevPkiError(
            f"không nạp được PKI phát triển từ {pki_dir}: {error}; "
            "hãy chạy `congvan dev-pki generate`"
        ) from error
    return arch


def _with_health(app: WSGIApp) -> WSGIApp:
    body = json.dumps({"status": "ok", "service": "dev-pki", "arch": DEV_ARCH}).encode()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return wrapped


def make_dev_services_app(pki_dir: Path | None = None) -> WSGIApp:
    """The development trust services as one WSGI app: TSA, OCSP, CRLs and certificates.

    They serve the congvan-dev architecture of the development PKI in `pki_dir` (default:
    certs/dev), plus `/healthz`.
    """
    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import ArchLabel

    class WholeSecondAnimator(Animator):
        """Certomancer's animator, with times in whole seconds."""

        def at_time(self, request: Any) -> datetime:
            # Fractional seconds in OCSP producedAt make strict parsers (cryptography) reject it.
            moment: datetime = super().at_time(request)  # type: ignore[no-untyped-call]
            return moment.replace(microsecond=0)

    arch = _load_architecture(pki_dir or CHECKOUT_PKI_DIR)
    # No web UI: it would hand out PKCS#12 files. No fake-time header: times are real.
    animator = WholeSecondAnimator(
        AnimatorArchStore({ArchLabel(DEV_ARCH): arch}),
        with_web_ui=False,
        allow_time_override=False,
    )
    return _with_health(animator)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=128)


def _listening_socket(services: DevServices) -> socket.socket:
    """Where to serve: the configured address, else the built-in port, else a free one.

    Raises OSError when CONGVAN_DEV_SERVICES_URL names a port something else holds.
    """
    if services.address.strip():
        parts = urlsplit(services.url)
        return _bind(parts.hostname or DEV_HOST, parts.port or DEV_PORT)
    try:
        return _bind(DEV_HOST, DEV_PORT)
    except OSError:
        # Held by something that does not answer as our services (another run starting up,
        # another program): any free port does, since requests follow the variable set below.
        return _bind(DEV_HOST, 0)


@contextmanager
def running_dev_services(services: DevServices, pki_dir: Path | None = None) -> Iterator[str]:
    """The development services for the duration of the block; yields their base URL.

    When nothing answers where `services` says, they are served from this process (the PKI in
    `pki_dir`, default the checkout's), with CONGVAN_DEV_SERVICES_URL set while they run for the
    processes it starts; its own requests must go to the URL yielded.
    """
    base = services.url
    if services_answer(base):
        yield base
        return
    from werkzeug.serving import make_server

    app = make_dev_services_app(pki_dir)
    sock = _listening_socket(services)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the output
    try:
        server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    finally:
        sock.close()  # the server holds its own duplicate of the descriptor
    thread = threading.Thread(target=server.serve_forever, name="dev-pki", daemon=True)
    thread.start()
    previous = os.environ.get(DEV_SERVICES_ENV)
    os.environ[DEV_SERVICES_ENV] = base
    if base != DEV_SERVICES_URL:
        log.info("dịch vụ tin cậy phát triển chạy tại %s (cổng %d đang bị chiếm)", base, DEV_PORT)
    try:
        yield base
    finally:
        if previous is None:
            os.environ.pop(DEV_SERVICES_ENV, None)
        else:
            os.environ[DEV_SERVICES_ENV] = previous
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
