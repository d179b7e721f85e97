"""How the `congvan` command line reports errors, and the options its commands share.

An error is one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from exchange.config import debug_from_env
from signer.errors import SignerError, UnreadablePdfError
from signer.messages import file_error_message

log = logging.getLogger("congvan")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line on stderr and exit with `code`."""
    click.echo(f"congvan: {message}", err=True)
    sys.exit(code)


def friendly_errors(function: F) -> F:
    """Turn every error into one line on stderr and a non-zero exit: never a traceback."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UnreadablePdfError as error:
            fail(str(error), EXIT_UNREADABLE)
        except SignerError as error:
            fail(str(error))
        except OSError as error:
            fail(file_error_message(error, str(error.filename or ""), "đọc hoặc ghi"))
        except KeyboardInterrupt:
            fail("đã dừng theo yêu cầu", 130)
        except Exception:
            log.debug("unexpected error", exc_info=True)
            if debug_from_env():
                raise
            fail("lỗi nội bộ không mong đợi; chạy lại với CONGVAN_DEBUG=1 để xem chi tiết")

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper  # type: ignore[return-value]


def trust_option(function: F) -> F:
    """`--trust PEM` (repeatable): trusted roots besides the configured ones."""
    return click.option(
        "--trust",
        "trust_paths",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Chứng thư gốc tin cậy thêm (PEM); có thể lặp lại.",
    )(function)
