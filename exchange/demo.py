"""`congvan demo`: sign the bundled sample with development certificates and verify it.

The quick start's first command until the exchange service exists. It runs the development trust
services in-process (unless they already run; on a free port when another program holds 8790),
so it works on a fresh machine with nothing else.
"""

from __future__ import annotations

from pathlib import Path

import click

from exchange.dev_services import running_dev_services
from signer.appearance import Appearance, dev_image_path, load_image
from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, DEV_SERVICES_URL, DEV_TSA_URL, dev_p12_path
from signer.issuing import InMemoryCounter, issue_document, prepare_draft, vietnam_date
from signer.reports import render_text
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import verify_pdf

SAMPLE = Path(__file__).parent / "devdata" / "cong-van-cai-cach-hanh-chinh.pdf"


@click.command("demo")
@click.option(
    "-o",
    "--output-dir",
    default="demo-output",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Thư mục ghi tệp đã ký.",
)
def demo_command(output_dir: Path) -> None:
    """Ban hành thử văn bản mẫu bằng chứng thư phát triển: lãnh đạo ký, văn thư cấp số và ký số
    cơ quan, rồi kiểm tra kết quả."""
    output_dir.mkdir(parents=True, exist_ok=True)
    draft = output_dir / "0-du-thao.pdf"
    official_signed = output_dir / "1-lanh-dao-da-ky.pdf"
    issued = output_dir / "2-da-ban-hanh.pdf"
    trust = load_trust(development=True)
    official = load_credential(dev_p12_path("official-tpd-phochutich"), DEV_PASSPHRASE)
    agency = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    # The demo numbers from 01 each run: it shows the workflow, it keeps no register.
    numbers = InMemoryCounter()
    with running_dev_services() as services:
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
                    "official", image=load_image(dev_image_path("official-tpd-phochutich"))
                ),
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
                appearance=Appearance("agency", image=load_image(dev_image_path("agency-tpd"))),
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
