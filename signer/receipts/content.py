"""A receipt's content: what the receiving agency acknowledges, and its canonical signed encoding.

The content is canonical UTF-8 JSON: the document's SHA-256, its number, the delivery, the edXML
status, its reason and time, and both agencies. Parsing accepts exactly that encoding and nothing
else, so two parties can never read one signed receipt two ways.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from signer.errors import SignerError

RECEIPT_FORMAT = "congvan-receipt/1"
# edXML statuses a receiving agency sends back (13, the recall request, comes from the sender),
# worded as exchange/statuses.py words them.
RECEIVER_STATUSES: dict[str, str] = {
    "01": "đã đến",
    "02": "bị từ chối",
    "03": "đã vào sổ",
    "04": "đã phân công",
    "05": "đang xử lý",
    "06": "đã hoàn thành",
    "15": "đồng ý thu hồi",
    "16": "từ chối thu hồi",
}
_AGENCY_CODE = re.compile(r"[0-9A-Z.]{1,35}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


class ReceiptError(SignerError):
    """A receipt cannot be made from this content, or its content is not a valid receipt."""


class UnreadableReceiptError(ReceiptError):
    """The input is not a CMS-signed receipt at all (garbage, truncated, detached, too large)."""


def _check_text(name: str, value: object, *, empty: bool = False, limit: int = 500) -> str:
    if not isinstance(value, str):
        raise ReceiptError(f"trường {name} phải là chuỗi ký tự")
    if not value.strip() and not empty:
        raise ReceiptError(f"trường {name} không được để trống")
    if len(value) > limit:
        raise ReceiptError(f"trường {name} dài quá {limit} ký tự")
    # Control characters could rewrite a terminal that prints the receipt; newlines only in reasons.
    allowed = "\n" if name == "reason" else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise ReceiptError(f"trường {name} chứa ký tự điều khiển")
    return value


def format_time(moment: datetime) -> str:
    """A moment in UTC as receipts write it: ``2025-06-01T08:30:00Z``, microseconds if any."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else f"{text}Z"


@dataclass(frozen=True)
class ReceiptContent:
    """What a receiving agency acknowledges: which document, which status, when, between whom."""

    document_sha256: str
    document_number: str
    delivery_id: str
    status: str
    reason: str | None
    at: datetime
    sender_code: str
    sender_name: str
    receiver_code: str
    receiver_name: str

    def __post_init__(self) -> None:
        sha = self.document_sha256
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise ReceiptError("mã băm SHA-256 của văn bản phải gồm đúng 64 chữ số hex")
        object.__setattr__(self, "document_sha256", sha.lower())
        _check_text("document_number", self.document_number, empty=True, limit=100)
        _check_text("delivery_id", self.delivery_id, limit=100)
        if not isinstance(self.status, str) or self.status not in RECEIVER_STATUSES:
            known = ", ".join(RECEIVER_STATUSES)
            raise ReceiptError(f"mã trạng thái {self.status!r} không hợp lệ; chỉ dùng {known}")
        if self.reason is not None:
            _check_text("reason", self.reason, limit=2000)
        elif self.status == "02":
            raise ReceiptError("từ chối văn bản (trạng thái 02) phải nêu lý do")
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise ReceiptError("thời điểm trạng thái phải có múi giờ (datetime aware)")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        for name in ("sender_code", "receiver_code"):
            code = getattr(self, name)
            if not isinstance(code, str) or not _AGENCY_CODE.fullmatch(code):
                raise ReceiptError(
                    f"mã định danh {code!r} không hợp lệ: tối đa 35 ký tự 0-9, A-Z và dấu chấm"
                )
        _check_text("sender_name", self.sender_name)
        _check_text("receiver_name", self.receiver_name)

    @property
    def status_label(self) -> str:
        """The status in words, e.g. "đã vào sổ"."""
        return RECEIVER_STATUSES[self.status]

    def to_dict(self) -> dict[str, Any]:
        """The content as JSON-ready values (the time in ISO 8601, UTC)."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        values["at"] = format_time(self.at)
        return values

    def to_bytes(self) -> bytes:
        """The canonical encoding that is signed: UTF-8 JSON, sorted keys, no whitespace."""
        document = {"format": RECEIPT_FORMAT, **self.to_dict()}
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> ReceiptContent:
        """Parse signed content strictly: exactly the canonical encoding `to_bytes` produces."""
        try:
            document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
        except (UnicodeDecodeError, ValueError):
            raise ReceiptError("nội dung không phải JSON UTF-8 hợp lệ") from None
        expected = {"format", *(field.name for field in fields(cls))}
        if not isinstance(document, dict) or set(document) != expected:
            raise ReceiptError("nội dung không có đúng các trường của biên nhận")
        if document.pop("format") != RECEIPT_FORMAT:
            raise ReceiptError(f"định dạng biên nhận không được hỗ trợ (cần {RECEIPT_FORMAT})")
        at = document["at"]
        if not isinstance(at, str) or not _TIME.fullmatch(at):
            raise ReceiptError("thời điểm trạng thái không theo dạng ISO 8601 UTC")
        try:
            document["at"] = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:  # e.g. 30 February
            raise ReceiptError("thời điểm trạng thái không phải ngày giờ có thật") from None
        content = cls(**document)
        if content.to_bytes() != data:
            raise ReceiptError("nội dung không ở dạng chuẩn (canonical JSON) của biên nhận")
        return content


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result
