"""Development only: `congvan dev-pki` (trust services, regeneration), `demo` and `dev-data`.

The development PKI is certs/dev (signer/devpki.py); its trust services are
exchange/dev_services.py; the development data set (agencies, groups, accounts) is
exchange/dev_data.py; the sample document the demo signs is exchange/samples/.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import click

from exchange.cli.database import load_settings, open_session
from exchange.cli.errors import fail, handle_errors
from exchange.cli.options import FOLDER
from exchange.cli.serving import base_url, listening_socket, stop_on_sigterm
from exchange.config import Settings
from exchange.dev_services import DevPkiError
from signer.devpki import (
    CHECKOUT_PKI_DIR,
    DEV_ARCH,
    DEV_HOST,
    DEV_PORT,
    DEV_SERVICES_ENV,
)

SAMPLE = Path(__file__).parent.parent / "samples" / "cong-van-cai-cach-hanh-chinh.pdf"

# --- dev-pki ---


def load_generator(pki_dir: Path | None = None) -> ModuleType:
    """Import certs/dev/generate.py, which is a script and not part of an installed package."""
    path = (pki_dir or CHECKOUT_PKI_DIR) / "generate.py"
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


@click.group("dev-pki")
def dev_pki_group() -> None:
    """PKI phát triển (CHỈ DÙNG KHI PHÁT TRIỂN): dịch vụ tin cậy và sinh chứng thư."""


def _default_port(settings: Settings) -> int:
    """The port of CONGVAN_DEV_SERVICES_URL when set, else the built-in one."""
    return urlsplit(settings.dev_services.url).port or DEV_PORT  # a bad value: one line, exit 1


@dev_pki_group.command("serve")
@click.option("--host", default=DEV_HOST, show_default=True, help="Địa chỉ lắng nghe.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"Cổng TCP (mặc định {DEV_PORT}, hoặc cổng trong {DEV_SERVICES_ENV} nếu đã đặt); "
    "0: chọn một cổng trống.",
)
@click.option("--access-log", is_flag=True, help="Ghi mỗi yêu cầu ra stderr.")
@handle_errors
def dev_pki_serve_command(host: str, port: int | None, access_log: bool) -> None:
    """Chạy dịch vụ dấu thời gian (TSA), OCSP, CRL và kho chứng thư của PKI phát triển.

    In địa chỉ gốc của dịch vụ (http://HOST:CỔNG) thành một dòng trên stdout khi đã sẵn sàng.
    Chứng thư phát triển ghi địa chỉ http://127.0.0.1:8790; khi chạy ở cổng khác, đặt
    CONGVAN_DEV_SERVICES_URL bằng địa chỉ in ra cho các lệnh congvan khác.
    """
    from werkzeug.serving import make_server

    from exchange.dev_services import make_dev_services_app

    settings = load_settings(check=False)
    if port is None:
        port = _default_port(settings)
    try:
        app = make_dev_services_app(settings.effective_dev_pki_dir)
    except DevPkiError as error:
        fail(str(error))
    logging.getLogger("werkzeug").setLevel(logging.INFO if access_log else logging.WARNING)
    sock = listening_socket(
        host,
        port,
        hint=" (có thể `congvan dev-pki serve` khác đang chạy; --port 0 chọn một cổng trống)",
    )
    port = int(sock.getsockname()[1])  # the one the system chose for --port 0
    server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    sock.close()  # the server holds its own duplicate of the descriptor
    stop_on_sigterm()
    base = base_url(host, port)
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


@dev_pki_group.command("generate")
@click.option("--new-keys", is_flag=True, help="Sinh lại mọi khóa (mọi chứng thư sẽ đổi).")
@click.option(
    "--out",
    type=FOLDER,
    default=None,
    help=f"Thư mục ghi ra (mặc định CONGVAN_DEV_PKI_DIR, nếu không thì {CHECKOUT_PKI_DIR}).",
)
@handle_errors
def dev_pki_generate_command(new_keys: bool, out: Path | None) -> None:
    """Sinh lại khóa (nếu thiếu), chứng thư, tệp P12 và CRL của PKI phát triển."""
    pki_dir = load_settings(check=False).effective_dev_pki_dir
    target = out or pki_dir
    try:
        written = load_generator(pki_dir).generate(target, new_keys=new_keys)
    except DevPkiError as error:
        fail(str(error))
    except OSError as error:
        name = f" {error.filename}" if error.filename else ""
        fail(f"không ghi được tệp{name}: {error.strerror or error}")
    click.echo(f"congvan dev-pki: đã ghi {len(written)} tệp vào {target}", err=True)


# --- demo ---


@click.command("demo")
@click.option(
    "-o",
    "--output-dir",
    default="demo-output",
    show_default=True,
    type=FOLDER,
    help="Thư mục ghi tệp đã ký.",
)
@handle_errors
def demo_command(output_dir: Path) -> None:
    """Ban hành thử văn bản mẫu bằng chứng thư phát triển: lãnh đạo ký, văn thư cấp số và ký số
    cơ quan, rồi kiểm tra kết quả."""
    from exchange.dev_services import running_dev_services
    from signer.appearance import Appearance, dev_image_path, load_image
    from signer.credentials import load_credential
    from signer.devpki import (
        DEV_PASSPHRASE,
        DEV_SERVICES_URL,
        DEV_TSA_URL,
        DevServices,
        dev_p12_path,
    )
    from signer.issuing import InMemoryCounter, issue_document, prepare_draft
    from signer.reports import render_text
    from signer.signing import SignOptions, sign_pdf
    from signer.trust import load_trust
    from signer.verification import verify_pdf
    from signer.vietnam_time import vietnam_date

    output_dir.mkdir(parents=True, exist_ok=True)
    draft = output_dir / "0-du-thao.pdf"
    official_signed = output_dir / "1-lanh-dao-da-ky.pdf"
    issued = output_dir / "2-da-ban-hanh.pdf"
    settings = load_settings(check=False)
    pki_dir = settings.effective_dev_pki_dir
    official = load_credential(
        dev_p12_path("official-tpd-phochutich", pki_dir=pki_dir), DEV_PASSPHRASE
    )
    agency = load_credential(dev_p12_path("agency-tpd", pki_dir=pki_dir), DEV_PASSPHRASE)
    # The demo numbers from 01 each run: it shows the workflow, it keeps no register.
    numbers = InMemoryCounter()
    with running_dev_services(settings.dev_services, pki_dir) as services:
        # The demo is development: requests to the built-in address go where the services run.
        here = DevServices(services)
        trust = load_trust(development=True, dev_pki_dir=pki_dir, dev_services=here)
        if services != DEV_SERVICES_URL:
            click.echo(f"Dịch vụ tin cậy phát triển: {services}")
        click.echo(f"Văn bản mẫu: {SAMPLE.name}")
        prepare_draft(SAMPLE, draft)
        click.echo(f"0. Dự thảo đã chuẩn bị ô số và ngày ban hành: {draft}")
        sign_pdf(
            draft,
            official_signed,
            official,
            SignOptions(
                level="b-t",
                field_name="ChuKyLanhDao",
                reason="Phê duyệt văn bản",
                location="Tân Phú Đông, Tiền Giang",
                tsa_url=DEV_TSA_URL,
                appearance=Appearance(
                    "official",
                    image=load_image(dev_image_path("official-tpd-phochutich", pki_dir=pki_dir)),
                ),
                development=True,
                dev_services=here,
            ),
        )
        click.echo(f"1. {official.common_name} đã ký: {official_signed}")
        result = issue_document(
            official_signed,
            issued,
            agency,
            numbers,
            SignOptions(
                level="b-lt",
                field_name="ChuKyCoQuan",
                reason="Phát hành văn bản",
                location="Tân Phú Đông, Tiền Giang",
                contact_info=agency.organization,
                tsa_url=DEV_TSA_URL,
                trust_roots=trust.roots,
                appearance=Appearance(
                    "agency", image=load_image(dev_image_path("agency-tpd", pki_dir=pki_dir))
                ),
                development=True,
                dev_services=here,
            ),
        )
        issued_on = vietnam_date(result.issued_at)
        click.echo(
            f"2. Văn thư đã ban hành số {result.number:02d}, ngày {issued_on:%d/%m/%Y}, "
            f"ký số {agency.common_name}: {issued}"
        )
        report = verify_pdf(issued, trust=trust)
    click.echo()
    click.echo(render_text(report))
    click.echo()
    # Both signatures' revocation data is embedded (B-LT), so this works without any service.
    click.echo(f"Kiểm tra lại bất cứ lúc nào, không cần mạng: congvan verify --offline {issued}")


# --- dev-data ---


@click.group("dev-data")
def dev_data_group() -> None:
    """Dữ liệu phát triển (CHỈ DÙNG KHI PHÁT TRIỂN)."""


@dev_data_group.command("load")
@handle_errors
def dev_data_load() -> None:
    """Nạp huyện Tân Phú Đông, các xã, các phòng và tài khoản thử (mật khẩu congvan-dev)."""
    from exchange.dev_data import DEV_PASSWORD, load_dev_data
    from exchange.runtime import make_runtime

    settings = load_settings()
    if not settings.development:
        fail("dữ liệu phát triển chỉ được nạp ở chế độ development")
    with open_session(settings) as session:
        summary = load_dev_data(session, make_runtime(settings))
    if summary.changed:
        click.echo(
            f"congvan: đã nạp {summary.agencies} cơ quan, {summary.certificates} chứng thư, "
            f"{summary.groups} nhóm, {summary.users} tài khoản (mật khẩu {DEV_PASSWORD})"
        )
    else:
        click.echo("congvan: dữ liệu phát triển đã có sẵn, không thêm gì")


COMMANDS = (dev_pki_group, demo_command, dev_data_group)
