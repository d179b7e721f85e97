"""Every error as an RFC 9457 problem (`application/problem+json`), in Vietnamese.

Exchange errors carry their own status, title and detail; HTTP errors from routing and request
parsing get a Vietnamese title; anything else is logged and answered with a bare 500 that never
repeats the exception's text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Request, Response, current_app, has_request_context, request
from werkzeug.exceptions import HTTPException

from exchange.api.body import CheckedJson, StrictFormDataParser
from exchange.errors import ExchangeError

log = logging.getLogger("congvan.api")

PROBLEM_TYPES = "https://congvan.invalid/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

HTTP_TITLES = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa đăng nhập",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    406: "Không có định dạng phù hợp",
    408: "Hết thời gian chờ yêu cầu",
    409: "Xung đột trạng thái",
    411: "Thiếu độ dài nội dung",
    413: "Nội dung quá lớn",
    415: "Kiểu nội dung không được hỗ trợ",
    422: "Dữ liệu không hợp lệ",
    429: "Quá nhiều yêu cầu",
    500: "Lỗi máy chủ",
    501: "Chưa hỗ trợ",
    503: "Dịch vụ tạm thời không sẵn sàng",
}

HTTP_DETAILS = {
    400: "máy chủ không hiểu yêu cầu",
    404: "không có tài nguyên nào ở địa chỉ này",
    405: "địa chỉ này không nhận phương thức {method}",
    415: "kiểu nội dung của yêu cầu không được hỗ trợ",
}


class MalformedJsonError(ExchangeError):
    status = 400
    slug = "malformed-json"
    title = "JSON không hợp lệ"


class JsonRequiredError(ExchangeError):
    status = 415
    slug = "json-required"
    title = "Cần nội dung JSON"


class ExchangeRequest(Request):
    """A request whose JSON parsing failures are problems with a Vietnamese explanation.

    Its JSON is checked where it is parsed (`exchange.api.body.load_json`), its multipart text
    decoded strictly (`StrictFormDataParser`).
    """

    form_data_parser_class = StrictFormDataParser

    @property
    def json_module(self) -> Any:
        return CheckedJson

    @json_module.setter
    def json_module(self, provider: Any) -> None:
        # Flask hands every request the app's JSON provider; `load_json` parses with it.
        pass

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise JsonRequiredError(
                "nội dung yêu cầu phải là JSON (Content-Type: application/json)"
            )
        raise MalformedJsonError(f"nội dung JSON không đọc được: {_json_error_position(e)}")


def _json_error_position(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"lỗi ở dòng {error.lineno}, cột {error.colno}"
    return "không phải JSON UTF-8 hợp lệ"


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An `application/problem+json` response."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if has_request_context():
        body["instance"] = request.path
    if errors:
        body["errors"] = errors
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_MEDIA_TYPE
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="congvan"'
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def exchange_problem(error: ExchangeError) -> Response:
    if error.status >= 500:
        log.warning("%s: %s", type(error).__name__, error.detail)
    return problem_response(
        error.status,
        error.title,
        error.detail,
        type_=PROBLEM_TYPES + error.slug,
        errors=error.errors or None,
    )


def http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    detail: str | None
    if status == 413:
        detail = too_large_detail()
    else:
        template = HTTP_DETAILS.get(status)
        detail = template.format(method=request.method) if template else None
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }
    return problem_response(status, HTTP_TITLES.get(status, error.name), detail, headers=headers)


def too_large_detail() -> str:
    limit = current_app.config.get("CONGVAN_MAX_UPLOAD_BYTES") or 0
    return f"nội dung gửi lên quá lớn: tối đa {format_size(int(limit))} mỗi yêu cầu"


def format_size(size: int) -> str:
    """A size in the units a user reads (`50 MB`, `1,5 MB`, `800 byte`)."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            value = size / factor
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
            return f"{text} {unit}"
    return f"{size} byte"


def unexpected_problem(error: Exception) -> Response:
    # Logged with the traceback for the operator; the caller learns nothing about internals.
    log.error("unexpected error on %s %s", request.method, request.path, exc_info=error)
    return problem_response(
        500,
        HTTP_TITLES[500],
        "lỗi nội bộ không mong đợi; lỗi đã được ghi lại để quản trị viên xem xét",
    )


def register_problem_handlers(app: Flask) -> None:
    """Answer every error of `app` with a problem document."""
    app.request_class = ExchangeRequest
    app.register_error_handler(ExchangeError, exchange_problem)
    app.register_error_handler(HTTPException, http_problem)
    app.register_error_handler(Exception, unexpected_problem)
