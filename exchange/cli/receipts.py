"""`congvan receipt verify` and `congvan receipt show`: signed status receipts from the shell."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from exchange.cli.database import load_file_trust
from exchange.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE, fail, handle_errors
from exchange.cli.options import ANY_PATH, FILE, json_option, trust_option
from signer.receipts import (
    ReceiptContent,
    ReceiptError,
    ReceiptVerification,
    UnreadableReceiptError,
    read_receipt,
    verify_receipt,
)
from signer.reports import VERDICTS, format_time

REVOCATION = {
    "good": "chưa bị thu hồi (đã kiểm tra trực tuyến)",
    "revoked": "ĐÃ BỊ THU HỒI",
    "unknown": "không xác định được",
    "not_checked": "chưa kiểm tra (ngoại tuyến; dùng --online để hỏi CRL/OCSP)",
}


def _agency(name: str | None, code: str | None) -> str:
    return f"{name or 'không ghi tên'} (mã định danh {code or 'không có'})"


def render_content(content: ReceiptContent) -> list[str]:
    """What a receipt says, in Vietnamese, one fact per line."""
    number = content.document_number or "chưa có số"
    lines = [
        f"Cơ quan nhận: {_agency(content.receiver_name, content.receiver_code)}",
        f"Trạng thái: {content.status} ({content.status_label})",
    ]
    if content.reason:
        lines.append(f"Lý do trạng thái: {content.reason}")
    lines += [
        f"Thời điểm trạng thái: {format_time(content.at.isoformat())}",
        f"Văn bản: số {number}, SHA-256 {content.document_sha256}",
        f"Cơ quan gửi: {_agency(content.sender_name, content.sender_code)}",
        f"Lượt gửi: {content.delivery_id}",
    ]
    return lines


def render_verification(path: Path, result: ReceiptVerification) -> str:
    """The verification report of one receipt, in Vietnamese."""
    lines = [f"Biên nhận: {path}", f"Kết quả: {VERDICTS[result.verdict]}"]
    content = result.content
    if result.verdict == "passed" and content is not None:
        number = content.document_number or "(chưa có số)"
        lines.append(
            f"{content.receiver_name} xác nhận văn bản số {number} của {content.sender_name}: "
            f"{content.status_label} (trạng thái {content.status})."
        )
    else:
        lines.append(f"Lý do: {result.reason}")
        if content is not None:
            lines.append("Nội dung dưới đây KHÔNG được chữ ký hợp lệ xác nhận:")
    if content is not None:
        lines += render_content(content)
    else:
        lines.append("Nội dung: không đọc được")
    signer = result.signer
    if signer is not None:
        agency = _agency(signer.organization, signer.organization_identifier)
        if signer.common_name and signer.common_name != signer.organization:
            agency = f"{signer.common_name}, {agency}"  # a person signing for the agency
        lines.append(f"Người ký: {agency}, chứng thư số số hiệu {signer.serial}")
    signed_at = None if result.signed_at is None else result.signed_at.isoformat()
    lines.append(f"Thời điểm ký (do người ký khai): {format_time(signed_at)}")
    lines.append(f"Thu hồi chứng thư: {REVOCATION[result.revocation]}")
    if len(result.problems) > 1:
        lines.append("Các vấn đề khác:")
        lines.extend(f"  - {problem}" for problem in result.problems[1:])
    return "\n".join(lines)


def _document_digest(document: Path | None) -> str | None:
    if document is None:
        return None
    digest = hashlib.sha256()
    try:
        with document.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        fail(f"không đọc được văn bản {document}: {error.strerror or error}", EXIT_UNREADABLE)
    return digest.hexdigest()


def _unreadable(path: Path, message: str, as_json: bool) -> None:
    click.echo(f"congvan: {path}: {message}", err=True)
    if as_json:
        report: dict[str, Any] = {
            "file": str(path),
            "verdict": "failed",
            "reason": message,
            "readable": False,
        }
        click.echo(json.dumps(report, ensure_ascii=False))


@click.group("receipt")
def receipt_group() -> None:
    """Biên nhận trạng thái có ký số của cơ quan nhận."""


@receipt_group.command("verify")
@click.argument("files", nargs=-1, required=True, type=ANY_PATH)
@trust_option()
@click.option(
    "--document",
    type=FILE,
    help="Tệp văn bản (PDF) mà biên nhận phải nói tới: so khớp mã băm SHA-256.",
)
@click.option(
    "--online", is_flag=True, help="Hỏi CRL/OCSP về tình trạng thu hồi chứng thư của người ký."
)
@json_option("In báo cáo JSON (mỗi tệp một dòng).")
@handle_errors
def verify_receipt_command(
    files: Sequence[Path],
    trust_paths: Sequence[Path],
    document: Path | None,
    online: bool,
    as_json: bool,
) -> None:
    """Kiểm tra biên nhận trạng thái (.p7m): chữ ký, cơ quan ký, thời điểm và văn bản.

    Mã thoát: 0 mọi biên nhận hợp lệ; 1 có biên nhận không hợp lệ; 2 tệp không đọc được.
    """
    trust = load_file_trust(trust_paths)
    document_sha256 = _document_digest(document)
    worst = EXIT_OK
    for index, path in enumerate(files):
        try:
            data = path.read_bytes()
            result = verify_receipt(
                data, trust=trust, document_sha256=document_sha256, offline=not online
            )
        except UnreadableReceiptError as error:
            worst = max(worst, EXIT_UNREADABLE)
            _unreadable(path, str(error), as_json)
            continue
        except OSError as error:
            worst = max(worst, EXIT_UNREADABLE)
            _unreadable(path, f"không đọc được tệp: {error.strerror or error}", as_json)
            continue
        if result.verdict != "passed":
            worst = max(worst, EXIT_FAILED)
            click.echo(f"congvan: {path}: {VERDICTS[result.verdict]}: {result.reason}", err=True)
        if as_json:
            click.echo(json.dumps({"file": str(path), **result.to_dict()}, ensure_ascii=False))
        else:
            if index:
                click.echo()
            click.echo(render_verification(path, result))
    sys.exit(worst)


@receipt_group.command("show")
@click.argument("file", type=FILE)
@json_option("In nội dung dạng JSON.")
@handle_errors
def show_receipt_command(file: Path, as_json: bool) -> None:
    """In nội dung một biên nhận mà không kiểm tra chữ ký (dùng `receipt verify` để kiểm tra)."""
    try:
        content = read_receipt(file.read_bytes())
    except ReceiptError as error:  # not CMS, or CMS whose content is not a receipt
        fail(f"{file}: {error}", EXIT_UNREADABLE)
    except OSError as error:
        fail(f"{file}: không đọc được tệp: {error.strerror or error}", EXIT_UNREADABLE)
    if as_json:
        click.echo(json.dumps(content.to_dict(), ensure_ascii=False))
        return
    click.echo(f"Biên nhận: {file} (CHƯA KIỂM TRA CHỮ KÝ)")
    click.echo("\n".join(render_content(content)))


COMMANDS = (receipt_group,)
