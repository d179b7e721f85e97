"""Signed status receipts: the receiving agency's CMS signature over the status it sent back.

`content` holds what a receipt says and its canonical JSON; `cms` signs and verifies it as a
self-contained DER CMS SignedData (.p7m) that any CMS tool can check.
"""

from __future__ import annotations

from signer.receipts.cms import (
    ReceiptSigner,
    ReceiptVerification,
    read_receipt,
    sign_receipt,
    verify_receipt,
)
from signer.receipts.content import (
    RECEIVER_STATUSES,
    ReceiptContent,
    ReceiptError,
    UnreadableReceiptError,
)

__all__ = [
    "RECEIVER_STATUSES",
    "ReceiptContent",
    "ReceiptError",
    "ReceiptSigner",
    "ReceiptVerification",
    "UnreadableReceiptError",
    "read_receipt",
    "sign_receipt",
    "verify_receipt",
]
