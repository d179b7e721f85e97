"""The keys the service signs with: agencies' seals (held by the service) and officials' keys.

Also turns the signer library's errors into the exchange's, so the API answers with the right
status and the user reads what went wrong.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from exchange.errors import (
    ConfigurationError,
    ConflictError,
    ExchangeError,
    ServiceUnavailableError,
    UnsupportedFileError,
    ValidationError,
)
from exchange.models import Agency, User
from exchange.runtime import Runtime
from signer.credentials import Credential, load_credential
from signer.devpki import DEV_PASSPHRASE
from signer.errors import (
    CredentialError,
    IssueError,
    SignerBlockNotFoundError,
    SignerError,
    SigningError,
    TrustServiceError,
    UnreadablePdfError,
    WrongPinError,
)

# What to do when a draft shows no signer block to sign in (the upload field of
# exchange/api/documents.py, its format in signer/appearance: parse_placement).
SIGNATURE_BOX_FORMAT = (
    "dạng TRANG:x,y,rộng,cao (trang đầu là 1; x, y, rộng, cao tính bằng point từ góc dưới bên "
    "trái trang, ví dụ 1:345,171.5,150,77.6)"
)
SIGNATURE_BOX_HINT = (
    f"hãy tải dự thảo lên lại kèm vị trí chữ ký trong trường signature_box, {SIGNATURE_BOX_FORMAT}"
)

_cache: dict[tuple[str, str | None, str | None], Credential] = {}
_cache_lock = threading.Lock()


def _load(source: str, pin: str | None, pkcs11_module: str | None) -> Credential:
    key = (source, pin, pkcs11_module)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    credential = load_credential(source, pin, pkcs11_module=pkcs11_module)
    with _cache_lock:
        _cache[key] = credential
    return credential


def agency_credential(runtime: Runtime, agency: Agency) -> Credential:
    """The agency's signing key, unlocked with the PIN from its configured variable."""
    if not agency.credential:
        raise ConfigurationError(
            f"cơ quan {agency.code} chưa được cấu hình chứng thư số để ký phát hành"
        )
    if agency.credential_pin_env:
        pin = os.environ.get(agency.credential_pin_env)
        if pin is None:
            raise ConfigurationError(
                f"biến môi trường {agency.credential_pin_env} (mã PIN khóa ký của cơ quan "
                f"{agency.code}) chưa được đặt"
            )
    elif runtime.settings.development:
        pin = DEV_PASSPHRASE
    else:
        raise ConfigurationError(f"cơ quan {agency.code} chưa cấu hình biến chứa mã PIN khóa ký")
    with signer_errors():
        return _load(agency.credential, pin, runtime.settings.pkcs11_module)


def official_credential(runtime: Runtime, user: User, pin: str) -> Credential:
    """The official's personal key held by the service, unlocked by the PIN they give now."""
    if not user.credential:
        raise ConflictError(
            f"tài khoản {user.username} chưa có chứng thư số cá nhân trên hệ thống: "
            "hãy ký bằng USB token (ký từ xa)"
        )
    if not pin:
        raise ValidationError("cần nhập mã PIN", errors={"pin": "cần nhập mã PIN"})
    with signer_errors():
        # An official's key is not cached: each signature needs the PIN again.
        return load_credential(user.credential, pin, pkcs11_module=runtime.settings.pkcs11_module)


@contextmanager
def signer_errors() -> Iterator[None]:
    """Re-raise the signer library's errors as exchange errors with an HTTP status."""
    try:
        yield
    except ExchangeError:
        raise
    except WrongPinError as error:
        raise ValidationError(str(error), errors={"pin": "mã PIN không đúng"}) from None
    except CredentialError as error:
        raise ConfigurationError(f"không dùng được chứng thư số: {error}") from None
    except UnreadablePdfError as error:
        raise UnsupportedFileError(str(error)) from None
    except IssueError as error:
        raise ConflictError(str(error)) from None
    except SignerBlockNotFoundError as error:
        raise ValidationError(
            f"{error}: {SIGNATURE_BOX_HINT}",
            errors={"signature_box": "cần vị trí chữ ký: văn bản không có khối chữ ký"},
        ) from None
    except TrustServiceError as error:
        raise ServiceUnavailableError(f"ký số không thành công, hãy thử lại sau: {error}") from None
    except SigningError as error:
        raise ValidationError(f"ký số không thành công: {error}") from None
    except SignerError as error:
        raise ValidationError(str(error)) from None
