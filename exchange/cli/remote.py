"""`congvan remote`: two-step signing with a token on the official's own computer.

`prepare` writes the prepared PDF and its state and prints what the client's token must sign;
`finish` embeds the returned signature. The two may run in different processes, minutes apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from exchange.cli.database import load_file_settings, load_file_trust
from exchange.cli.documents import build_options
from exchange.cli.errors import fail, handle_errors
from exchange.cli.options import (
    FILE,
    certify_options,
    output_option,
    signature_options,
    trust_option,
)
from exchange.config import remote_secret_from_env


@click.group("remote")
def remote_group() -> None:
    """Ký số bằng thiết bị (USB token) trên máy của người ký: chuẩn bị rồi hoàn tất."""


@remote_group.command("prepare")
@click.argument("source", type=FILE)
@click.option(
    "--cert",
    "cert_path",
    required=True,
    type=FILE,
    help="Chứng thư số của người ký (PEM/DER); các chứng thư sau chứng thư đầu là chuỗi.",
)
@click.option(
    "--chain",
    "chain_paths",
    multiple=True,
    type=FILE,
    help="Chứng thư trung gian (PEM); có thể lặp lại.",
)
@signature_options
@certify_options
@click.option(
    "--valid-for",
    type=click.IntRange(min=1, max=24 * 60),
    default=30,
    show_default=True,
    help="Số phút phiên ký còn hiệu lực.",
)
@click.option(
    "--state",
    "state_path",
    type=FILE,
    help="Tệp trạng thái (mặc định: OUTPUT.remote.json).",
)
@handle_errors
def prepare_command(
    source: Path,
    cert_path: Path,
    chain_paths: Sequence[Path],
    valid_for: int,
    state_path: Path | None,
    **params: Any,
) -> None:
    """Chuẩn bị SOURCE để ký; in JSON gồm dữ liệu cần ký (to_be_signed, base64)."""
    from signer.remote import prepare_remote_signature
    from signer.trust import load_certificates

    options = build_options(params)
    certificates = load_certificates(cert_path)
    chain = list(certificates[1:])
    for path in chain_paths:
        chain.extend(load_certificates(path))
    prepared = prepare_remote_signature(
        source,
        params["output"],
        certificates[0],
        chain,
        options,
        valid_for=timedelta(minutes=valid_for),
        secret=remote_secret_from_env(),
        state_path=state_path,
    )
    click.echo(json.dumps(prepared.to_dict(), ensure_ascii=False))


@remote_group.command("finish")
@click.argument("prepared", type=FILE)
@click.option(
    "--signature",
    "signature_path",
    type=FILE,
    help="Chữ ký thô trên to_be_signed (nhị phân).",
)
@click.option(
    "--cms",
    "cms_path",
    type=FILE,
    help="CMS SignedData (DER) do máy người ký tạo.",
)
@output_option("Tệp PDF đã ký sẽ ghi ra.")
@click.option(
    "--state",
    "state_path",
    type=FILE,
    help="Tệp trạng thái (mặc định: PREPARED.remote.json).",
)
@click.option("--tsa", "tsa_url", help="URL dịch vụ cấp dấu thời gian (mặc định như khi chuẩn bị).")
@trust_option("Chứng thư gốc tin cậy thêm (PEM), dùng cho mức b-lt/b-lta.")
@handle_errors
def finish_command(
    prepared: Path,
    signature_path: Path | None,
    cms_path: Path | None,
    output: Path,
    state_path: Path | None,
    tsa_url: str | None,
    trust_paths: Sequence[Path],
) -> None:
    """Nhúng chữ ký do thiết bị của người ký tạo vào tệp PREPARED, ghi ra --output."""
    from signer.remote import finish_remote_signature

    if (signature_path is None) == (cms_path is None):
        fail("cần đúng một trong hai: --signature (chữ ký thô) hoặc --cms (CMS SignedData)")
    path = signature_path or cms_path
    assert path is not None
    data = path.read_bytes()
    settings = load_file_settings()
    trust = load_file_trust(trust_paths, settings)
    result = finish_remote_signature(
        prepared,
        state_path,
        data,
        output,
        signature_format="raw" if signature_path is not None else "cms",
        tsa_url=tsa_url,
        trust_roots=trust.roots,
        secret=remote_secret_from_env(),
        development=settings.development,
        dev_services=settings.dev_services,
    )
    click.echo(
        f"Đã ký {prepared} -> {output} (trường {result.field_name}, mức {result.level.upper()}, "
        f"SHA-256 {result.digest_sha256})"
    )


COMMANDS = (remote_group,)
