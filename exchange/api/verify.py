"""Anyone may verify a signed PDF: upload it, read the report (no account needed)."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, request

from exchange.api.context import current_runtime
from exchange.errors import PayloadTooLargeError, UnsupportedFileError, ValidationError
from signer.errors import NotPdfError, UnreadablePdfError
from signer.reports import render_text, summarize
from signer.verification import verify_pdf

verify_api = Blueprint("verify", __name__)


@verify_api.post("/verify")
def verify_upload() -> dict[str, Any]:
    """`multipart/form-data` with `file`: the report of `congvan verify --json`, and in words.

    A file that is no PDF at all is 415; a PDF that cannot be read (broken, password-protected,
    nested too deeply, over the time limit) is 422 with the reason on the `file` field.
    """
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError(
            "cần gửi tệp PDF trong trường file (multipart/form-data)", errors={"file": "bắt buộc"}
        )
    runtime = current_runtime()
    data = upload.stream.read(runtime.settings.max_upload_bytes + 1)
    if len(data) > runtime.settings.max_upload_bytes:
        limit = runtime.settings.max_upload_bytes // (1024 * 1024)
        raise PayloadTooLargeError(f"tệp vượt quá giới hạn {limit} MiB")
    try:
        report = verify_pdf(
            io.BytesIO(data),
            trust=runtime.trust,
            offline=runtime.settings.verify_offline,
            timeout=runtime.settings.verify_timeout,
        )
    except NotPdfError as error:
        raise UnsupportedFileError(str(error)) from None
    except UnreadablePdfError as error:
        # A PDF that cannot be read (broken, password, too deep, over the time limit): the
        # file is what to change, so it is an error on the file field.
        raise ValidationError(str(error), errors={"file": str(error)}) from None
    return {**report.to_dict(), "summary": summarize(report), "text": render_text(report)}
