"""The options and path types `congvan` commands share, declared once.

Path types give `pathlib.Path` values. The signing options (`credential_options`,
`signature_options`, `certify_options`) are shared by `sign`, `issue` and `remote prepare`;
`exchange/cli/documents.py` turns what they collect into a credential and `SignOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# Path types: a file (to read or to write), any path, a folder.
FILE = click.Path(dir_okay=False, path_type=Path)
ANY_PATH = click.Path(path_type=Path)
FOLDER = click.Path(file_okay=False, path_type=Path)

TRUST_HELP = "Chứng thư gốc tin cậy thêm (PEM); có thể lặp lại."


def apply(function: F, decorators: list[Callable[[F], F]]) -> F:
    """`function` under `decorators`, the first outermost, as if written above it in order."""
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def trust_option(help: str = TRUST_HELP) -> Callable[[F], F]:
    """`--trust PEM` (repeatable): trusted roots besides the configured ones."""
    return click.option("--trust", "trust_paths", multiple=True, type=FILE, help=help)


def json_option(help: str) -> Callable[[F], F]:
    """`--json`: machine-readable output (as `as_json`)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def output_option(help: str, *, required: bool = True) -> Callable[[F], F]:
    """`-o/--output FILE`."""
    return click.option("-o", "--output", required=required, type=FILE, help=help)


def database_url_option(function: F) -> F:
    """`--database-url URL`: a database other than the configured one."""
    return click.option(
        "--database-url",
        default=None,
        metavar="URL",
        help="Địa chỉ cơ sở dữ liệu (mặc định: CONGVAN_DATABASE_URL, hoặc SQLite ở thư mục "
        "dữ liệu).",
    )(function)


def credential_options(function: F) -> F:
    """Where the signing key is and how it is unlocked."""
    return apply(
        function,
        [
            click.option(
                "--credential", required=True, help="Tệp PKCS#12 hoặc URI PKCS#11 (RFC 7512)."
            ),
            click.option("--pin-env", help="Tên biến môi trường chứa mã PIN; nếu không có sẽ hỏi."),
            click.option(
                "--pkcs11-module", type=click.Path(dir_okay=False), help="Thư viện PKCS#11 (.so)."
            ),
        ],
    )


def _placement(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A signature's place from "PAGE:x,y,width,height"."""
    from signer.appearance import parse_placement

    if value is None:
        return None
    try:
        return parse_placement(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def signature_options(function: F) -> F:
    """What signature to make and where to write it."""
    return apply(
        function,
        [
            output_option("Tệp PDF ghi ra."),
            click.option(
                "--level",
                type=click.Choice(["b-b", "b-t", "b-lt", "b-lta"]),
                default=None,
                help="Mức PAdES (mặc định b-t nếu có dịch vụ dấu thời gian, nếu không b-b). "
                "Khi phát triển, b-t trở lên cần dịch vụ tin cậy phát triển "
                "(`congvan dev-pki serve`): nếu chúng không chạy, lệnh dừng và báo lỗi, "
                "không tự hạ xuống b-b.",
            ),
            click.option(
                "--tsa",
                "tsa_url",
                help="URL dịch vụ cấp dấu thời gian (RFC 3161); khi phát triển mặc định là TSA "
                "phát triển.",
            ),
            trust_option("Chứng thư gốc tin cậy thêm (PEM), dùng khi nhúng thông tin thu hồi."),
            click.option("--field", "field_name", help="Tên trường chữ ký."),
            click.option("--reason", help="Lý do ký."),
            click.option("--location", help="Nơi ký."),
            click.option("--contact", "contact_info", help="Thông tin liên hệ (cơ quan)."),
            click.option(
                "--visible",
                type=click.Choice(["official", "agency", "corner"]),
                help="Chữ ký hiển thị: lãnh đạo (ảnh chữ ký), cơ quan (ảnh dấu) "
                "hoặc dòng chữ góc trên bên phải (tệp đính kèm, bản sao).",
            ),
            click.option(
                "--image",
                type=FILE,
                help="Ảnh PNG trong suốt: chữ ký tay (lãnh đạo) hoặc con dấu (cơ quan).",
            ),
            click.option("--notation", help="Dòng chữ góc phải: số, ký hiệu hoặc loại bản sao."),
            click.option(
                "--signature-box",
                metavar="TRANG:X,Y,RỘNG,CAO",
                callback=_placement,
                help="Vị trí chữ ký lãnh đạo (và con dấu đè lên nó) khi văn bản không có khối "
                "chữ ký (chức vụ, họ tên) để tự tìm, như văn bản quét: số trang (trang đầu là "
                "1), dấu hai chấm, rồi x,y,rộng,cao tính bằng point từ góc dưới bên trái "
                "trang, ví dụ 1:345,171.5,150,77.6. Khi ban hành (issue) dùng lại đúng vị trí "
                "đã dùng khi ký.",
            ),
        ],
    )


def certify_options(function: F) -> F:
    """A certification (DocMDP) signature instead of an approval one."""
    return apply(
        function,
        [
            click.option(
                "--certify", is_flag=True, help="Ký chứng nhận (DocMDP) thay vì ký phê duyệt."
            ),
            click.option(
                "--docmdp",
                type=click.Choice(["no_changes", "fill_forms", "annotate"]),
                default="fill_forms",
                show_default=True,
                help="Thay đổi cho phép sau khi ký chứng nhận.",
            ),
        ],
    )
