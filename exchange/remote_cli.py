"""`congvan remote`: two-step signing with a token on the official's own computer.

`prepare` writes the prepared PDF and its state and prints what the client's token must sign;
`finish` embeds the returned signature. The two may run in different processes, minutes apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import click

from exchange.cli_errors import fail, friendly_errors

SECRET_ENV = "CONGVAN_REMOTE_SECRET"


def _secret() -> bytes | None:
    """The service secret that seals prepared states, when one is configured."""
    value = os.environ.get(SECRET_ENV)
    return value.encode("utf-8") if value else None


@click.group("remote")
def remote() -> None:
    """Ký số bằng thiết bị (USB token) trên máy của người ký: chuẩn bị rồi hoàn tất."""


@remote.command("prepare")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp PDF đã chuẩn bị (chờ chữ ký).",
)
@click.option(
    "--cert",
    "cert_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chứng thư số của người ký (PEM/DER); các chứng thư sau chứng thư đầu là chuỗi.",
)
@click.option(
    "--chain",
    "chain_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chứng thư trung gian (PEM); có thể lặp lại.",
)
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
    help="Chứng thư gốc tin cậy thêm (PEM), dùng cho mức b-lt/b-lta.",
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
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp trạng thái (mặc định: OUTPUT.remote.json).",
)
@friendly_errors
def prepare_command(
    source: Path,
    output: Path,
    cert_path: Path,
    chain_paths: Sequence[Path],
    level: str | None,
    tsa_url: str | None,
    trust_paths: Sequence[Path],
    certify: bool,
    docmdp: str,
    field_name: str | None,
    reason: str | None,
    location: str | None,
    contact_info: str | None,
    valid_for: int,
    state_path: Path | None,
) -> None:
    """Chuẩn bị SOURCE để ký; in JSON gồm dữ liệu cần ký (to_be_signed, base64)."""
    from signer.remote import prepare_remote_signature
    from signer.signing import SignOptions
    from signer.trust import is_development_mode, load_certificates, load_trust

    development = is_development_mode()
    if tsa_url is None and development:
        from signer.devpki import DEV_TSA_URL

        tsa_url = DEV_TSA_URL
    if level is None:
        level = "b-t" if tsa_url else "b-b"
    certificates = load_certificates(cert_path)
    chain = list(certificates[1:])
    for path in chain_paths:
        chain.extend(load_certificates(path))
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
    prepared = prepare_remote_signature(
        source,
        output,
        certificates[0],
        chain,
        options,
        valid_for=timedelta(minutes=valid_for),
        secret=_secret(),
        state_path=state_path,
    )
    click.echo(json.dumps(prepared.to_dict(), ensure_ascii=False))


@remote.command("finish")
@click.argument("prepared", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    "signature_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chữ ký thô trên to_be_signed (nhị phân).",
)
@click.option(
    "--cms",
    "cms_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CMS SignedData (DER) do máy người ký tạo.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp PDF đã ký sẽ ghi ra.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp trạng thái (mặc định: PREPARED.remote.json).",
)
@click.option("--tsa", "tsa_url", help="URL dịch vụ cấp dấu thời gian (mặc định như khi chuẩn bị).")
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Chứng thư gốc tin cậy thêm (PEM), dùng cho mức b-lt/b-lta.",
)
@friendly_errors
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
    from signer.trust import load_trust

    if (signature_path is None) == (cms_path is None):
        fail("cần đúng một trong hai: --signature (chữ ký thô) hoặc --cms (CMS SignedData)")
    path = signature_path or cms_path
    assert path is not None
    data = path.read_bytes()
    trust = load_trust(trust_paths)
    result = finish_remote_signature(
        prepared,
        state_path,
        data,
        output,
        signature_format="raw" if signature_path is not None else "cms",
        tsa_url=tsa_url,
        trust_roots=trust.roots,
        secret=_secret(),
    )
    click.echo(
        f"Đã ký {prepared} -> {output} (trường {result.field_name}, mức {result.level.upper()}, "
        f"SHA-256 {result.digest_sha256})"
    )
