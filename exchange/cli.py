"""The `congvan` command line: one entry point for signing, verifying and running the service.

Messages a person reads are in Vietnamese; `--json` output keeps the English field names of the
contract in DESIGN.md so software can rely on them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from exchange.cli_errors import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE, fail, friendly_errors
from signer.errors import UnreadablePdfError, WrongPinError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """congvan: ký số, kiểm tra chữ ký và trao đổi văn bản điện tử."""
    logging.basicConfig(level=logging.DEBUG if os.environ.get("CONGVAN_DEBUG") else logging.WARNING)


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


@main.command("sign")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp PDF đã ký sẽ ghi ra.",
)
@click.option("--credential", required=True, help="Tệp PKCS#12 hoặc URI PKCS#11 (RFC 7512).")
@click.option("--pin-env", help="Tên biến môi trường chứa mã PIN; nếu không có sẽ hỏi.")
@click.option(
    "--level",
    type=click.Choice(["b-b", "b-t", "b-lt", "b-lta"]),
    default=None,
    help="Mức PAdES (mặc định b-t nếu có dịch vụ dấu thời gian, nếu không b-b).",
)
@click.option("--tsa", "tsa_url", help="URL dịch vụ cấp dấu thời gian (RFC 3161).")
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chứng thư gốc tin cậy thêm (PEM), dùng khi nhúng thông tin thu hồi.",
)
@click.option("--certify", is_flag=True, help="Ký chứng nhận (DocMDP) thay vì ký phê duyệt.")
@click.option(
    "--docmdp",
    type=click.Choice(["no_changes", "fill_forms", "annotate"]),
    default="fill_forms",
    show_default=True,
    help="Thay đổi cho phép sau khi ký chứng nhận.",
)
@click.option("--field", "field_name", help="Tên trường chữ ký.")
@click.option("--reason", help="Lý do ký.")
@click.option("--location", help="Nơi ký.")
@click.option("--contact", "contact_info", help="Thông tin liên hệ (cơ quan).")
@click.option("--pkcs11-module", type=click.Path(dir_okay=False), help="Thư viện PKCS#11 (.so).")
@friendly_errors
def sign_command(
    source: Path,
    output: Path,
    credential: str,
    pin_env: str | None,
    level: str | None,
    tsa_url: str | None,
    trust_paths: Sequence[Path],
    certify: bool,
    docmdp: str,
    field_name: str | None,
    reason: str | None,
    location: str | None,
    contact_info: str | None,
    pkcs11_module: str | None,
) -> None:
    """Ký số tệp PDF SOURCE và ghi kết quả ra --output."""
    from signer.credentials import load_credential
    from signer.signing import SignOptions, sign_pdf
    from signer.trust import is_development_mode, load_trust

    development = is_development_mode()
    if tsa_url is None and development:
        from signer.devpki import DEV_TSA_URL

        tsa_url = DEV_TSA_URL
    if level is None:
        level = "b-t" if tsa_url else "b-b"
    pin = read_pin(pin_env)
    try:
        loaded = load_credential(credential, pin, pkcs11_module=pkcs11_module)
    except WrongPinError:
        fail("mã PIN không đúng hoặc không mở được chứng thư số")
    trust = load_trust(trust_paths, development=development)
    options = SignOptions(
        level=level,  # type: ignore[arg-type]
        certify=certify,
        docmdp=docmdp,  # type: ignore[arg-type]
        field_name=field_name,
        reason=reason,
        location=location,
        contact_info=contact_info,
        tsa_url=tsa_url,
        trust_roots=trust.roots,
    )
    result = sign_pdf(source, output, loaded, options)
    click.echo(
        f"Đã ký {source} -> {output} (trường {result.field_name}, mức {result.level.upper()}, "
        f"SHA-256 {result.digest_sha256})"
    )


@main.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chứng thư gốc tin cậy thêm (PEM); có thể lặp lại.",
)
@click.option(
    "--offline", is_flag=True, help="Không truy cập mạng; chỉ dùng dữ liệu thu hồi đã nhúng."
)
@click.option("--json", "as_json", is_flag=True, help="In báo cáo JSON (mỗi tệp một dòng).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Thời gian tối đa cho mỗi tệp (giây).",
)
@friendly_errors
def verify_command(
    files: Sequence[Path], trust_paths: Sequence[Path], offline: bool, as_json: bool, timeout: float
) -> None:
    """Kiểm tra chữ ký số của các tệp PDF.

    Mã thoát: 0 mọi chữ ký hợp lệ; 1 có chữ ký không hợp lệ hoặc chưa xác định được; 2 tệp không
    phải PDF đọc được.
    """
    from signer.reports import VERDICTS, render_text
    from signer.trust import load_trust
    from signer.verification import verify_pdf

    trust = load_trust(trust_paths)
    worst = EXIT_OK
    for index, path in enumerate(files):
        try:
            report = verify_pdf(path, trust=trust, offline=offline, timeout=timeout)
        except UnreadablePdfError as error:
            worst = max(worst, EXIT_UNREADABLE)
            click.echo(f"congvan: {path}: {error}", err=True)
            if as_json:
                click.echo(json.dumps(unreadable_report(path, str(error)), ensure_ascii=False))
            continue
        except OSError as error:
            worst = max(worst, EXIT_UNREADABLE)
            click.echo(f"congvan: {path}: không đọc được tệp: {error.strerror or error}", err=True)
            if as_json:
                click.echo(json.dumps(unreadable_report(path, str(error)), ensure_ascii=False))
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


def _register_subcommands() -> None:
    from exchange.demo import demo_command
    from exchange.devpki import devpki
    from exchange.remote_cli import remote

    main.add_command(devpki)
    main.add_command(demo_command)
    main.add_command(remote)


_register_subcommands()

if __name__ == "__main__":
    main()
