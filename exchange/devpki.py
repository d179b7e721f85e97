"""`congvan dev-pki`: serve and regenerate the development PKI (DEVELOPMENT ONLY)."""

from __future__ import annotations

import importlib.util
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click
import yaml  # type: ignore[import-untyped]

from signer.devpki import (
    DEV_ARCH,
    DEV_CONFIG_FILE,
    DEV_HOST,
    DEV_PKI_DIR,
    DEV_PORT,
    DEV_SERVICES_ENV,
    DevServicesConfigError,
    dev_services_url,
)

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HEALTH_PATH = "/healthz"
SIGNING_LABELS = ("vn-dev-root", "vn-dev-ca", "tsa", "ocsp")


class DevPkiError(Exception):
    """The development PKI on disk cannot be served as it is."""


def load_generator(pki_dir: Path = DEV_PKI_DIR) -> ModuleType:
    """Import certs/dev/generate.py, which is a script and not part of an installed package."""
    path = pki_dir / "generate.py"
    name = "congvan_dev_pki_generate"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(str(loaded.__file__)) == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise DevPkiError(f"không tìm thấy chương trình sinh PKI phát triển {path}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class body runs.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_architecture(pki_dir: Path) -> Any:
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


def make_dev_pki_wsgi_app(pki_dir: Path | None = None) -> WSGIApp:
    """The TSA, OCSP, CRL and certificate services of the congvan-dev architecture, as WSGI."""
    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import ArchLabel

    class WholeSecondAnimator(Animator):
        """Certomancer's animator, with times in whole seconds."""

        def at_time(self, request: Any) -> datetime:
            # Fractional seconds in OCSP producedAt make strict parsers (cryptography) reject it.
            moment: datetime = super().at_time(request)  # type: ignore[no-untyped-call]
            return moment.replace(microsecond=0)

    arch = _load_architecture(pki_dir or DEV_PKI_DIR)
    # No web UI: it would hand out PKCS#12 files. No fake-time header: times are real.
    animator = WholeSecondAnimator(
        AnimatorArchStore({ArchLabel(DEV_ARCH): arch}),
        with_web_ui=False,
        allow_time_override=False,
    )
    return _with_health(animator)


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit 1, like the rest of the `congvan` command line."""
    click.echo(f"congvan: {message}", err=True)
    sys.exit(1)


def _listening_socket(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as error:
        _fail(
            f"không mở được cổng {host}:{port}: {error.strerror or error} "
            "(có thể `congvan dev-pki serve` khác đang chạy; --port 0 chọn một cổng trống)"
        )


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.group("dev-pki")
def devpki() -> None:
    """PKI phát triển (CHỈ DÙNG KHI PHÁT TRIỂN): dịch vụ tin cậy và sinh chứng thư."""


def _default_port() -> int:
    """The port of CONGVAN_DEV_SERVICES_URL when set, else the built-in one."""
    try:
        configured = dev_services_url()
    except DevServicesConfigError as error:
        _fail(str(error))
    return urlsplit(configured).port or DEV_PORT


@devpki.command("serve")
@click.option("--host", default=DEV_HOST, show_default=True, help="Địa chỉ lắng nghe.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"Cổng TCP (mặc định {DEV_PORT}, hoặc cổng trong {DEV_SERVICES_ENV} nếu đã đặt); "
    "0: chọn một cổng trống.",
)
@click.option("--access-log", is_flag=True, help="Ghi mỗi yêu cầu ra stderr.")
def serve_command(host: str, port: int | None, access_log: bool) -> None:
    """Chạy dịch vụ dấu thời gian (TSA), OCSP, CRL và kho chứng thư của PKI phát triển.

    In địa chỉ gốc của dịch vụ (http://HOST:CỔNG) thành một dòng trên stdout khi đã sẵn sàng.
    Chứng thư phát triển ghi địa chỉ http://127.0.0.1:8790; khi chạy ở cổng khác, đặt
    CONGVAN_DEV_SERVICES_URL bằng địa chỉ in ra cho các lệnh congvan khác.
    """
    from werkzeug.serving import make_server

    if port is None:
        port = _default_port()
    try:
        app = make_dev_pki_wsgi_app()
    except DevPkiError as error:
        _fail(str(error))
    logging.getLogger("werkzeug").setLevel(logging.INFO if access_log else logging.WARNING)
    sock = _listening_socket(host, port)
    port = int(sock.getsockname()[1])  # the one the system chose for --port 0
    server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    sock.close()  # the server holds its own duplicate of the descriptor
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    note = (
        ""
        if port == DEV_PORT
        else f" (chứng thư ghi cổng {DEV_PORT}: đặt {DEV_SERVICES_ENV}={base})"
    )
    click.echo(
        f"congvan dev-pki: CHỈ DÙNG KHI PHÁT TRIỂN: TSA, OCSP, CRL tại "
        f"{base}/{DEV_ARCH}/{note}; Ctrl-C để dừng",
        err=True,
    )
    click.echo(base)  # for scripts: the base URL, alone on stdout
    sys.stdout.flush()
    try:
        server.serve_forever()  # werkzeug returns from here on Ctrl-C (and SIGTERM, above)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    click.echo("congvan dev-pki: đã dừng", err=True)


@devpki.command("generate")
@click.option("--new-keys", is_flag=True, help="Sinh lại mọi khóa (mọi chứng thư sẽ đổi).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Thư mục ghi ra (mặc định {DEV_PKI_DIR}).",
)
def generate_command(new_keys: bool, out: Path | None) -> None:
    """Sinh lại khóa (nếu thiếu), chứng thư, tệp P12 và CRL của PKI phát triển."""
    target = out or DEV_PKI_DIR
    try:
        written = load_generator().generate(target, new_keys=new_keys)
    except DevPkiError as error:
        _fail(str(error))
    except OSError as error:
        name = f" {error.filename}" if error.filename else ""
        _fail(f"không ghi được tệp{name}: {error.strerror or error}")
    click.echo(f"congvan dev-pki: đã ghi {len(written)} tệp vào {target}", err=True)
