"""Security headers on every response (README, Configuration and production, Security headers).

Every response: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`. HTML pages
also get a Content Security Policy that allows nothing but the page's own inline `<style>` and
`<script>` blocks, by their SHA-256 hashes taken from the template sources at start-up (never from
the rendered page, which would allow whatever an injection slipped in), fetches and form posts to
this origin, and no framing (`frame-ancestors 'none'`, with `X-Frame-Options: DENY` for older
browsers). Inline blocks must therefore be static text: a template expression inside one is
refused at start-up, and inline `style="…"` attributes and event handler attributes do not run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Flask, Response

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
INLINE_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)
TEMPLATE_SYNTAX = ("{{", "{%", "{#")

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def inline_hashes(folder: Path = TEMPLATES_DIR) -> dict[str, list[str]]:
    """CSP hash sources of the inline `<script>` and `<style>` blocks of every template."""
    found: dict[str, list[str]] = {"script": [], "style": []}
    for template in sorted(folder.glob("*.html")):
        for kind, content in INLINE_BLOCK.findall(template.read_text(encoding="utf-8")):
            if any(mark in content for mark in TEMPLATE_SYNTAX):
                raise RuntimeError(
                    f"{template.name}: an inline <{kind}> must be static text (CSP hashes)"
                )
            digest = base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode()
            source = f"'sha256-{digest}'"
            if source not in found[kind]:
                found[kind].append(source)
    return found


def html_policy(folder: Path = TEMPLATES_DIR) -> str:
    """The Content Security Policy of the HTML pages."""
    hashes = inline_hashes(folder)
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + (" ".join(hashes["script"]) or "'none'"),
            "style-src " + (" ".join(hashes["style"]) or "'none'"),
            "img-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def install_security_headers(app: Flask) -> None:
    """Add the headers to every response the application makes, errors included."""
    policy = html_policy()

    def add_headers(response: Response) -> Response:
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = policy
            response.headers["X-Frame-Options"] = "DENY"
        return response

    app.after_request(add_headers)
