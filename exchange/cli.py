"""The `congvan` command line: one entry point for signing, verifying and running the service.

Messages a person reads are in Vietnamese; `--json` output keeps the English field names of the
contract in DESIGN.md so software can rely on them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from exchange.cli_errors import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE, friendly_errors, trust_option
from exchange.config import debug_from_env
from signer.errors import UnreadablePdfError, VerificationTimeoutError
from signer.messages import file_error_message


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """congvan: ký số, kiểm tra chữ ký và trao đổi văn bản điện tử."""
    logging.basicConfig(level=logging.DEBUG if debug_from_env() else logging.WARNING)


@main.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@trust_option
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


def _register_subcommands() -> None:
    from exchange.admin_cli import COMMANDS as admin_commands
    from exchange.audit_cli import audit_group
    from exchange.demo import demo_command
    from exchange.devpki import devpki
    from exchange.receipt_cli import receipt_group
    from exchange.registers_cli import registers_group
    from exchange.remote_cli import remote
    from exchange.serve import serve_command
    from exchange.signing_cli import issue_command, prepare_command, sign_command
    from exchange.worker import jobs_group, worker_command

    for command in (
        sign_command,
        prepare_command,
        issue_command,
        devpki,
        demo_command,
        remote,
        receipt_group,
        serve_command,
        worker_command,
        jobs_group,
        audit_group,
        registers_group,
        *admin_commands,
    ):
        main.add_command(command)


_register_subcommands()

if __name__ == "__main__":
    main()
