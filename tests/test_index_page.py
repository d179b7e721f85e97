"""The front page: verify a PDF without an account, find the API, and (development) the logins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signer.devpki import dev_cert_path


def test_front_page_in_development(client: Any) -> None:
    reply = client.get("/")
    assert reply.status_code == 200 and reply.mimetype == "text/html"
    page = reply.get_data(as_text=True)
    assert "Kiểm tra chữ ký số" in page
    assert 'action="/api/v1/verify"' in page
    assert "tpd.vanthu" in page and "congvan-dev" in page


def test_front_page_in_production_shows_no_development_accounts(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    from exchange.api.context import EXTENSION
    from exchange.app import create_app
    from exchange.config import Settings

    settings = Settings(
        env="production",
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="p" * 40,
        # Any root other than the development one (the check refuses that one).
        trust_roots=(dev_cert_path("rogue-root"),),
    )
    app = create_app(settings)
    try:
        page = app.test_client().get("/").get_data(as_text=True)
    finally:
        app.extensions[EXTENSION].engine.dispose()
    assert "Kiểm tra chữ ký số" in page
    assert "PHÁT TRIỂN" not in page and "congvan-dev" not in page and "tpd.vanthu" not in page
