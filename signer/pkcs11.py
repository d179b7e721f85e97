"""PKCS#11 credentials: keys that stay inside a token or HSM, named by RFC 7512 URIs.

Concurrency: python-pkcs11 initialises every module with ``C_Initialize(NULL)``, which promises
the module that no two threads ever call into it at once; SoftHSM2 then switches its own mutexes
off, and overlapping calls, even on separate sessions or tokens, fail with CKR_GENERAL_ERROR,
hang or crash the process (measured; tests/test_pkcs11.py guards it). So every call into a
module takes that module's lock, and a pool of sessions would buy nothing: each token keeps
one logged-in session. The lock covers only the token call, which releases the GIL, so the
PDF work of other threads (most of a signature) runs meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from asn1crypto import x509

from signer.errors import CredentialError, SignerError, WrongPinError
from signer.keys import PSS_SALT_LENGTH, Credential, PadesSigner, check_key_matches, order_chain

__all__ = ["PKCS11KeySigner", "load_pkcs11_credential"]


def _reason(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__


class _TokenSessions:
    """The one logged-in session of a token, and the module lock every call into it takes."""

    def __init__(self, session: Any, pin_digest: bytes, lock: threading.Lock) -> None:
        # Never closed: closing a logged-in session logs the whole application out of the token.
        self._session = session
        self.pin_digest = pin_digest
        self.module_lock = lock
        self._keys: dict[tuple[str | None, bytes | None], Any] = {}

    @contextmanager
    def session(self) -> Iterator[Any]:
        """The token's session, held with the module lock so no other thread calls the module."""
        with self.module_lock:
            yield self._session

    def key(self, label: str | None, key_id: bytes | None) -> Any:
        """The private key object, looked up once (call with the session held)."""
        from pkcs11 import Attribute, ObjectClass

        found = self._keys.get((label, key_id))
        if found is None:
            query: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
            if label is not None:
                query[Attribute.LABEL] = label
            if key_id is not None:
                query[Attribute.ID] = key_id
            keys = list(self._session.get_objects(query))
            if len(keys) != 1:
                name = label if label is not None else key_id.hex() if key_id else "?"
                what = "không tìm thấy" if not keys else f"có {len(keys)} khóa trùng nhãn/id,"
                raise CredentialError(f"{what} khóa bí mật {name!r} trên thiết bị PKCS#11")
            found = self._keys[(label, key_id)] = keys[0]
        return found


class PKCS11KeySigner(PadesSigner):
    """A signer whose key stays in a PKCS#11 token, safe to use from many threads."""

    def __init__(
        self,
        sessions: _TokenSessions,
        key_label: str | None,
        key_id: bytes | None,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
    ) -> None:
        self._sessions = sessions
        self._key_label = key_label
        self._key_id = key_id
        self._algorithm = certificate.public_key.algorithm
        super().__init__(certificate, chain)

    async def sign_sha256(self, data: bytes) -> bytes:
        """Sign ``data`` in the token, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.sign_now, data)

    def sign_now(self, data: bytes) -> bytes:
        """Sign ``data`` with SHA-256 (RSASSA-PSS or ECDSA) on a session of our own."""
        from pkcs11 import MGF, Mechanism
        from pkcs11.exceptions import PKCS11Error
        from pkcs11.util.ec import encode_ecdsa_signature

        try:
            if self._algorithm == "rsa":
                parameters = (Mechanism.SHA256, MGF.SHA256, PSS_SALT_LENGTH)
                with self._sessions.session():
                    key = self._sessions.key(self._key_label, self._key_id)
                    return bytes(
                        key.sign(
                            data,
                            mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                            mechanism_param=parameters,
                        )
                    )
            # Many tokens (SoftHSM2 among them) offer only raw CKM_ECDSA: hash on our side.
            digest = hashlib.sha256(data).digest()
            with self._sessions.session():
                key = self._sessions.key(self._key_label, self._key_id)
                raw = key.sign(digest, mechanism=Mechanism.ECDSA)
            return bytes(encode_ecdsa_signature(raw))
        except PKCS11Error as error:
            raise CredentialError(
                f"thiết bị PKCS#11 không ký được bằng khóa {self._key_label or ''}: "
                f"{_reason(error)}"
            ) from None


@dataclass(frozen=True)
class _TokenKey:
    module: str
    slot_id: int
    serial: bytes


# Login state belongs to the application, per token: a second C_Login fails. So each token is
# logged in once per process, its sessions are shared by every credential on it, and a later
# PIN is checked against the first one.
_TOKENS: dict[_TokenKey, _TokenSessions] = {}
_MODULE_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()


def _load_module(module: str) -> Any:
    import pkcs11

    try:
        return pkcs11.lib(module)
    except Exception as error:  # python-pkcs11 reports dlopen and C_Initialize failures alike
        raise CredentialError(
            f"không nạp được thư viện PKCS#11 {module}: {_reason(error)}"
        ) from None


def _find_token(lib: Any, label: str | None, serial: bytes | None, uri: str) -> Any:
    tokens = []
    for slot in lib.get_slots(token_present=True):
        token = slot.get_token()
        if label is not None and token.label != label:
            continue
        if serial is not None and token.serial.rstrip(b" \x00") != serial:
            continue
        tokens.append(token)
    if not tokens:
        present = ", ".join(repr(s.get_token().label) for s in lib.get_slots(token_present=True))
        raise CredentialError(
            f"không tìm thấy thiết bị PKCS#11 của {uri} (đang cắm: {present or 'không có'})"
        )
    if len(tokens) > 1:
        raise CredentialError(f"{uri} khớp với {len(tokens)} thiết bị; thêm serial= để chọn")
    return tokens[0]


def _token_sessions(
    module: str, label: str | None, serial: bytes | None, pin: str, uri: str
) -> _TokenSessions:
    from pkcs11 import TokenFlag
    from pkcs11 import exceptions as p11

    pin_digest = hashlib.sha256(pin.encode("utf-8")).digest()
    with _REGISTRY_LOCK:
        lock = _MODULE_LOCKS.setdefault(module, threading.Lock())
        with lock:
            lib = _load_module(module)
            token = _find_token(lib, label, serial, uri)
        key = _TokenKey(module, token.slot.slot_id, token.serial)
        known = _TOKENS.get(key)
        if known is not None:
            if not hmac.compare_digest(known.pin_digest, pin_digest):
                raise WrongPinError(f"mã PIN không mở được thiết bị PKCS#11 của {uri}")
            return known
        if token.flags & TokenFlag.USER_PIN_LOCKED:
            raise WrongPinError(
                f"thiết bị PKCS#11 của {uri} đã bị khóa (nhập sai mã PIN quá nhiều lần)"
            )
        try:
            with lock:
                session = token.open(user_pin=pin)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise WrongPinError(f"mã PIN không mở được thiết bị PKCS#11 của {uri}") from None
        except p11.PinLocked:
            raise WrongPinError(
                f"thiết bị PKCS#11 của {uri} đã bị khóa (nhập sai mã PIN quá nhiều lần)"
            ) from None
        except p11.UserAlreadyLoggedIn:
            raise CredentialError(
                f"thiết bị PKCS#11 của {uri} đã được mở bởi phần khác của chương trình"
            ) from None
        except Exception as error:  # the module and python-pkcs11 raise many unrelated types
            raise CredentialError(
                f"không mở được thiết bị PKCS#11 của {uri}: {_reason(error)}"
            ) from None
        sessions = _TOKENS[key] = _TokenSessions(session, pin_digest, lock)
        return sessions


def _parse_pkcs11_uri(uri: str) -> tuple[dict[str, str], dict[str, str]]:
    """Split an RFC 7512 URI into its path and query attributes (values still percent-encoded)."""
    body = uri[len("pkcs11:") :]
    path, _, query = body.partition("?")

    def pairs(text: str, separator: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for item in filter(None, text.split(separator)):
            name, equals, value = item.partition("=")
            if not equals:
                raise CredentialError(f"thuộc tính URI PKCS#11 sai dạng {item!r}")
            found[name.strip().lower()] = value
        return found

    return pairs(path, ";"), pairs(query, "&")


def _certificates(
    sessions: _TokenSessions, label: str | None, key_id: bytes | None, uri: str
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The certificate named like the key, and every certificate on the token."""
    from pkcs11 import Attribute, ObjectClass

    with sessions.session() as session:
        stored = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))
        found = [
            (o[Attribute.LABEL], bytes(o[Attribute.ID]), bytes(o[Attribute.VALUE])) for o in stored
        ]
    everything = [x509.Certificate.load(der) for _, _, der in found]
    matching = [
        x509.Certificate.load(der)
        for cert_label, cert_id, der in found
        if (label is None or cert_label == label) and (key_id is None or cert_id == key_id)
    ]
    if len(matching) != 1:
        what = "không tìm thấy chứng thư số" if not matching else "có nhiều chứng thư số"
        raise CredentialError(f"{what} cho khóa của {uri} trên thiết bị PKCS#11")
    return matching[0], everything


def load_pkcs11_credential(uri: str, pin: str | None, module: str | None) -> Credential:
    """Log in to the token named by ``uri`` (once per process) and find its key and certificates.

    The key never leaves the token; one test signature at load proves the key matches the
    certificate and the PIN works, so signing later cannot fail on either.
    """
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        raise CredentialError(
            "cần python-pkcs11 để dùng PKCS#11 (pip install 'pyhanko[pkcs11]')"
        ) from None
    path, query = _parse_pkcs11_uri(uri)
    module = module or (unquote(query["module-path"]) if "module-path" in query else None)
    if not module:
        raise CredentialError("khóa PKCS#11 cần đường dẫn thư viện (--pkcs11-module)")
    if pin is None and "pin-value" in query:
        pin = unquote(query["pin-value"])
    if pin is None:
        raise WrongPinError(f"thiết bị PKCS#11 {uri} cần mã PIN nhưng chưa nhập mã PIN")
    object_label = unquote(path["object"]) if "object" in path else None
    object_id = unquote_to_bytes(path["id"]) if "id" in path else None
    if object_label is None and object_id is None:
        raise CredentialError(f"{uri} không chỉ rõ khóa: thêm object=NHÃN hoặc id=%XX")
    label = unquote(path["token"]) if "token" in path else None
    serial = unquote_to_bytes(path["serial"]) if "serial" in path else None
    sessions = _token_sessions(module, label, serial, pin, uri)
    try:
        with sessions.session():
            sessions.key(object_label, object_id)  # a missing key is named as such
        leaf, others = _certificates(sessions, object_label, object_id, uri)
        chain = order_chain(leaf, others)
        signer = PKCS11KeySigner(sessions, object_label, object_id, leaf, chain)
        check_key_matches(signer, leaf, uri)
    except SignerError:
        raise
    except Exception as error:  # python-pkcs11 raises many types
        raise CredentialError(f"không dùng được khóa của {uri}: {_reason(error)}") from None
    return Credential(signer=signer, certificate=leaf, chain=chain)
