"""How the `congvan` command line ends: one exit-code table and one error decorator.

An error is one clear line on stderr ("congvan: …") and a non-zero exit, never a traceback
(unless CONGVAN_DEBUG is set). Nothing here imports SQLAlchemy: a database error can only reach
`handle_errors` from a command that imported it already.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from exchange.config import debug_from_env
from exchange.errors import ExchangeError
from signer.errors import SignerError, UnreadablePdfError
from signer.messages import file_error_message

log = logging.getLogger("congvan")

F = TypeVar("F", bound=Callable[..., Any])

# Every exit status of `congvan` (click itself exits 2 on a usage error).
EXIT_OK = 0  # done; every signature, receipt or audit entry checked is valid
EXIT_FAILED = 1  # refused or failed: invalid signature, bad input, unusable database
EXIT_UNREADABLE = 2  # a file is not a readable PDF or receipt
EXIT_INTERRUPTED = 130  # Ctrl-C

INTERNAL_ERROR = "lỗi nội bộ không mong đợi; chạy lại với CONGVAN_DEBUG=1 để xem chi tiết"


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line on stderr and exit with `code`."""
    click.echo(f"congvan: {message}", err=True)
    sys.exit(code)


def first_line(error: BaseException) -> str:
    """The first line of an error's text (a database driver's own error when there is one)."""
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _is_database_error(error: BaseException) -> bool:
    exc = sys.modules.get("sqlalchemy.exc")  # not imported: cannot be a SQLAlchemy error
    return exc is not None and isinstance(error, exc.SQLAlchemyError)


def handle_errors(function: F) -> F:
    """Turn every error into one line on stderr and its exit status: never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UnreadablePdfError as error:
            fail(str(error), EXIT_UNREADABLE)
        except SignerError as error:
            fail(str(error))
        except ExchangeError as error:
            fail(error.detail)
        except OSError as error:
            fail(file_error_message(error, str(error.filename or ""), "đọc hoặc ghi"))
        except KeyboardInterrupt:
            fail("đã dừng theo yêu cầu", EXIT_INTERRUPTED)
        except Exception as error:
            if _is_database_error(error):
                fail(f"lỗi cơ sở dữ liệu: {first_line(error)}")
            log.debug("unexpected error", exc_info=True)
            if debug_from_env():
                raise
            fail(INTERNAL_ERROR)

    return wrapper  # type: ignore[return-value]
