"""`congvan sign`, `prepare`, `issue` and `verify`: documents from the command line.

The same library code the service uses, file to file, with no database (nothing here imports
SQLAlchemy). The options of signing and issuing are declared once (exchange/cli/options.py) and
turned into a credential and `SignOptions` here, for `remote prepare` too.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from exchange.cli.database import load_file_settings, load_file_trust
from exchange.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE, fail, handle_errors
from exchange.cli.options import (
    ANY_PATH,
    FILE,
    certify_options,
    credential_options,
    json_option,
    output_option,
    signature_options,
    trust_option,
)
from signer.errors import UnreadablePdfError, VerificationTimeoutError, WrongPinError
from signer.messages import file_error_message

DEFAULT_COUNTER = Path("so-van-ban-di.json")


def read_pin(pin_env: str | None) -> str | None:
    """The PIN from the named environment variable, else a hidden prompt on a terminal."""
    if pin_env:
        value = os.environ.get(pin_env)
        if value is None:
            fail(f"biến môi trường {pin_env} (mã PIN) chưa được đặt")
        return value
    if sys.stdin.isatty():
        return str(click.prompt("Mã PIN", hide_input=True, default="", show_default=False))
    return None


def build_options(params: dict[str, Any], *, default_level: str | None = None) -> Any:
    """The SignOptions that `signature_options` (and `certify_options`) describe."""
    from signer.appearance import Appearance, load_image
    from signer.signing import SignOptions

    settings = load_file_settings()
    development = settings.development
    tsa_url = params["tsa_url"]
    if tsa_url is None and development:
        from signer.devpki import DEV_TSA_URL

        tsa_url = DEV_TSA_URL
    level = params["level"] or default_level or ("b-t" if tsa_url else "b-b")
    if development:
        from exchange.dev_services import require_dev_services

        # Says how to start them when they are down.
        require_dev_services(tsa_url, level, settings.dev_services)
    appearance = None
    place = params.get("signature_box")
    if place is not None and params["visible"] not in ("official", "agency"):
        fail("--signature-box chỉ dùng với --visible official hoặc --visible agency")
    if params["visible"]:
        if params["visible"] != "corner" and params["image"] is None:
            fail("chữ ký hiển thị của lãnh đạo hoặc cơ quan cần ảnh (--image)")
        image = load_image(params["image"]) if params["image"] is not None else None
        appearance = Appearance(
            params["visible"], image=image, notation=params["notation"], fallback=place
        )
    trust = load_file_trust(params["trust_paths"], settings)
    return SignOptions(
        level=level,  # type: ignore[arg-type]  # click.Choice checked it
        certify=params.get("certify", False),
        docmdp=params.get("docmdp", "fill_forms"),
        field_name=params["field_name"],
        reason=params["reason"],
        location=params["location"],
        contact_info=params["contact_info"],
        tsa_url=tsa_url,
        trust_roots=trust.roots,
        appearance=appearance,
        development=development,
        dev_services=settings.dev_services,
    )


def load_cli_credential(params: dict[str, Any]) -> Any:
    """The credential `credential_options` name, unlocked with the PIN."""
    from signer.credentials import load_credential

    pin = read_pin(params["pin_env"])
    try:
        return load_credential(params["credential"], pin, pkcs11_module=params["pkcs11_module"])
    except WrongPinError:
        fail("mã PIN không đúng hoặc không mở được chứng thư số")


@click.command("sign")
@click.argument("source", type=FILE)
@credential_options
@signature_options
@certify_options
@handle_errors
def sign_command(source: Path, **params: Any) -> None:
    """Ký số tệp PDF SOURCE và ghi kết quả ra --output."""
    from signer.errors import SignerBlockNotFoundError
    from signer.signing import sign_pdf

    options = build_options(params)
    credential = load_cli_credential(params)
    try:
        result = sign_pdf(source, params["output"], credential, options)
    except SignerBlockNotFoundError as error:
        fail(f"{error} bằng --signature-box TRANG:X,Y,RỘNG,CAO (xem congvan sign --help)")
    click.echo(
        f"Đã ký {source} -> {params['output']} (trường {result.field_name}, "
        f"mức {result.level.upper()}, SHA-256 {result.digest_sha256})"
    )


def _box(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A blank's box on page 1 from "x,y,width,height" (points, from the lower-left corner)."""
    from signer.issuing.blanks import parse_box

    if value is None:
        return None
    try:
        return parse_box(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


BOX_HELP = (
    "Vị trí ô {what} trên trang 1, khi không tự tìm được (văn bản quét, bố cục khác thể thức): "
    "x,y,rộng,cao tính bằng point (1/72 inch) từ góc dưới bên trái trang."
)


@click.command(
    "prepare",
    epilog=(
        "Vị trí nhập tay: xuất trang 1 thành ảnh 72 dpi (pdftoppm -r 72 -png -f 1 -l 1 "
        "van-ban.pdf trang), khi đó 1 điểm ảnh = 1 point; đo trên ảnh chỗ trống cần điền: "
        "x là khoảng cách từ mép trái, y = chiều cao trang - khoảng cách từ mép trên đến cạnh "
        "dưới của ô. Ô không được đè lên chữ in sẵn; rộng 6 đến 72, cao 6 đến 24 point."
    ),
)
@click.argument("source", type=FILE)
@output_option("Dự thảo đã chuẩn bị, để lãnh đạo ký.")
@click.option(
    "--number-box", metavar="X,Y,RỘNG,CAO", callback=_box, help=BOX_HELP.format(what="số")
)
@click.option("--day-box", metavar="X,Y,RỘNG,CAO", callback=_box, help=BOX_HELP.format(what="ngày"))
@click.option(
    "--month-box", metavar="X,Y,RỘNG,CAO", callback=_box, help=BOX_HELP.format(what="tháng")
)
@handle_errors
def prepare_command(source: Path, output: Path, **boxes: Any) -> None:
    """Chuẩn bị dự thảo: thêm ô trống cho số và ngày ban hành, trước khi lãnh đạo ký.

    Chỗ trống được tìm trên trang 1 (dòng "Số:   /…" và "ngày   tháng   năm"); với văn bản
    quét hoặc bố cục khác, hãy chỉ rõ vị trí bằng --number-box, --day-box, --month-box.
    Tệp PDF chỉ đặt mật khẩu chủ sở hữu (mở được không cần mật khẩu) được ghi lại không mã hóa.
    """
    from signer.errors import BlanksNotFoundError
    from signer.fields import DAY_FIELD, MONTH_FIELD, NUMBER_FIELD
    from signer.issuing import prepare_draft

    fields = {"number_box": NUMBER_FIELD, "day_box": DAY_FIELD, "month_box": MONTH_FIELD}
    given = {fields[option]: box for option, box in boxes.items() if box is not None}
    try:
        blanks = prepare_draft(source, output, given=given or None)
    except BlanksNotFoundError as error:
        fail(f"{error} bằng --number-box, --day-box, --month-box (xem congvan prepare --help)")
    labels = {NUMBER_FIELD: "số", DAY_FIELD: "ngày", MONTH_FIELD: "tháng"}
    found = [labels[name] for name, _ in blanks.items()]
    by_hand = [labels[name] for name, _ in blanks.items() if name in blanks.by_hand]
    note = f" (đặt theo vị trí nhập tay: {', '.join(by_hand)})" if by_hand else ""
    click.echo(f"Đã chuẩn bị {output}: ô trống cho {', '.join(found)} trên trang 1{note}")
    missing = [label for name, label in labels.items() if name not in dict(blanks.items())]
    if missing:
        click.echo(
            f"Lưu ý: không có ô cho {', '.join(missing)}: khi ban hành sẽ không điền "
            f"{', '.join(missing)} (dùng --day-box, --month-box để chỉ rõ vị trí)",
            err=True,
        )


@click.command("issue")
@click.argument("source", type=FILE)
@credential_options
@signature_options
@click.option(
    "--counter",
    type=FILE,
    default=DEFAULT_COUNTER,
    show_default=True,
    help="Tệp đếm số văn bản đi (mỗi cơ quan, mỗi năm bắt đầu từ 01).",
)
@click.option("--agency", help="Mã định danh cơ quan (mặc định: ghi trong chứng thư số).")
@json_option("In kết quả dạng JSON.")
@handle_errors
def issue_command(
    source: Path, counter: Path, agency: str | None, as_json: bool, **params: Any
) -> None:
    """Ban hành văn bản đã được lãnh đạo ký: cấp số, ngày ban hành và ký số cơ quan."""
    from signer.errors import SignerBlockNotFoundError
    from signer.issuing import FileCounter, issue_document
    from signer.vietnam_time import vietnam_date

    options = build_options(params, default_level="b-lt")
    credential = load_cli_credential(params)
    try:
        result = issue_document(
            source, params["output"], credential, FileCounter(counter), options, agency=agency
        )
    except SignerBlockNotFoundError as error:
        fail(f"{error} bằng --signature-box TRANG:X,Y,RỘNG,CAO, như khi lãnh đạo ký")
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    local = vietnam_date(result.issued_at)
    click.echo(
        f"Đã ban hành {params['output']}: số {result.number:02d}, ngày {local:%d/%m/%Y %H:%M} "
        f"(giờ Việt Nam), cơ quan {result.agency}"
    )


@click.command("verify")
@click.argument("files", nargs=-1, required=True, type=ANY_PATH)
@trust_option()
@click.option(
    "--offline", is_flag=True, help="Không truy cập mạng; chỉ dùng dữ liệu thu hồi đã nhúng."
)
@json_option("In báo cáo JSON (mỗi tệp một dòng).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Thời gian tối đa cho mỗi tệp (giây).",
)
@handle_errors
def verify_command(
    files: Sequence[Path], trust_paths: Sequence[Path], offline: bool, as_json: bool, timeout: float
) -> None:
    """Kiểm tra chữ ký số của các tệp PDF.

    Mã thoát: 0 mọi chữ ký hợp lệ; 1 có chữ ký không hợp lệ hoặc chưa xác định được; 2 tệp không
    phải PDF đọc được.
    """
    from signer.reports import VERDICTS, render_text
    from signer.verification import verify_pdf

    trust = load_file_trust(trust_paths)
    worst = EXIT_OK
    for index, path in enumerate(files):
        try:
            report = verify_pdf(path, trust=trust, offline=offline, timeout=timeout)
        except UnreadablePdfError as error:
            worst = max(worst, EXIT_UNREADABLE)
            hint = " (có thể tăng --timeout)" if isinstance(error, VerificationTimeoutError) else ""
            click.echo(f"congvan: {path}: {error}{hint}", err=True)
            if as_json:
                click.echo(json.dumps(unreadable_report(path, str(error)), ensure_ascii=False))
            continue
        except OSError as error:
            worst = max(worst, EXIT_UNREADABLE)
            message = file_error_message(error, str(path))
            click.echo(f"congvan: {message}", err=True)
            if as_json:
                click.echo(json.dumps(unreadable_report(path, message), ensure_ascii=False))
            continue
        if report.verdict != "passed":
            worst = max(worst, EXIT_FAILED)
            verdict = VERDICTS[report.verdict]
            click.echo(f"congvan: {path}: {verdict} ({report.verdict}): {report.reason}", err=True)
        if as_json:
            click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        else:
            if index:
                click.echo()
            click.echo(render_text(report))
    sys.exit(worst)


def unreadable_report(path: Path, reason: str) -> dict[str, Any]:
    """A JSON report for a file that is not a readable PDF, so every file gets one line."""
    return {
        "file": str(path),
        "verdict": "failed",
        "reason": f"not a readable PDF: {reason}",
        "readable": False,
        "modified_after_signing": False,
        "signatures": [],
    }


COMMANDS = (sign_command, prepare_command, issue_command, verify_command)
