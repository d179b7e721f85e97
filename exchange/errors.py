"""The exchange's errors: each carries the HTTP status the API answers with; Vietnamese messages.

The API turns them into RFC 9457 problem responses (exchange/api/problems.py); the CLI into one
line on stderr and a non-zero exit.
"""

from __future__ import annotations


class ExchangeError(Exception):
    """Root of the exchange's errors: a request the service understood and refuses."""

    status = 400
    slug = "bad-request"
    title = "Yêu cầu không hợp lệ"

    def __init__(self, detail: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class ConfigurationError(ExchangeError):
    slug = "configuration"
    title = "Cấu hình không hợp lệ"


class ValidationError(ExchangeError):
    status = 422
    slug = "validation"
    title = "Dữ liệu không hợp lệ"


class AuthenticationError(ExchangeError):
    status = 401
    slug = "unauthenticated"
    title = "Chưa đăng nhập"


class PermissionDeniedError(ExchangeError):
    status = 403
    slug = "forbidden"
    title = "Không có quyền"


class NotFoundError(ExchangeError):
    status = 404
    slug = "not-found"
    title = "Không tìm thấy"


class ConflictError(ExchangeError):
    """The request does not fit the current state (an invalid status transition, a duplicate)."""

    status = 409
    slug = "conflict"
    title = "Xung đột trạng thái"


class PayloadTooLargeError(ExchangeError):
    status = 413
    slug = "too-large"
    title = "Tệp quá lớn"


class UnsupportedFileError(ExchangeError):
    status = 415
    slug = "unsupported-file"
    title = "Tệp không được chấp nhận"


class ServiceUnavailableError(ExchangeError):
    """A service the request depends on (timestamping, a token) does not answer; try again."""

    status = 503
    slug = "unavailable"
    title = "Dịch vụ tạm thời không sẵn sàng"
