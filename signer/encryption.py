"""Encrypted inputs: a file that opens without a password is rewritten whole, unencrypted.

Word, Acrobat and many "protect PDF" tools encrypt exports with an owner password only: every
viewer opens them (the user password is empty) but an incremental update must keep the
encryption. A document that carries no signature yet loses nothing when it is rewritten whole,
so drafts are decrypted and rewritten (by pikepdf, qpdf's binding) before anything is added. A
file that needs a password to open, or that is already signed, is refused: rewriting a signed
file would break its signatures, and those are verified as they are (signer/verification).
"""

from __future__ import annotations

import io

import pikepdf

from signer.errors import EncryptedPdfError, PasswordProtectedError, UnreadablePdfError
from signer.messages import ENCRYPTED_SIGNED, PASSWORD_PROTECTED, pdf_error_message

__all__ = ["decrypt_unsigned", "may_be_encrypted"]

# Signature fields nest at most this deep in any real form.
MAX_FIELD_DEPTH = 32


def may_be_encrypted(data: bytes) -> bool:
    """False when the file surely is not encrypted: its trailers name no /Encrypt dictionary."""
    return b"/Encrypt" in data


def _signed_field(field: pikepdf.Object, depth: int = 0) -> bool:
    if depth > MAX_FIELD_DEPTH or not isinstance(field, pikepdf.Dictionary):
        return False
    if field.get("/FT") == pikepdf.Name.Sig and "/V" in field:
        return True
    kids = field.get("/Kids")
    return isinstance(kids, pikepdf.Array) and any(_signed_field(k, depth + 1) for k in kids)


def _is_signed(pdf: pikepdf.Pdf, data: bytes) -> bool:
    acroform = pdf.Root.get("/AcroForm")
    fields = acroform.get("/Fields") if isinstance(acroform, pikepdf.Dictionary) else None
    if isinstance(fields, pikepdf.Array) and any(_signed_field(f) for f in fields):
        return True
    return b"/ByteRange" in data  # a signature dictionary outside the form counts too


def decrypt_unsigned(data: bytes) -> bytes:
    """``data`` itself when not encrypted; else the same document rewritten without encryption.

    Raises PasswordProtectedError when a password is needed to open the file, EncryptedPdfError
    when it is signed (rewriting it would break the signatures).
    """
    if not may_be_encrypted(data):
        return data
    try:
        with pikepdf.open(io.BytesIO(data), password="") as pdf:
            if not pdf.is_encrypted:
                return data
            if _is_signed(pdf, data):
                raise EncryptedPdfError(ENCRYPTED_SIGNED)
            out = io.BytesIO()
            # A classic cross-reference table, no object streams: the plainest file to sign.
            pdf.save(
                out,
                encryption=False,
                object_stream_mode=pikepdf.ObjectStreamMode.disable,
                fix_metadata_version=False,
            )
            return out.getvalue()
    except pikepdf.PasswordError:
        raise PasswordProtectedError(PASSWORD_PROTECTED) from None
    except UnreadablePdfError:
        raise
    except (pikepdf.PdfError, ValueError, TypeError, KeyError, RuntimeError) as error:
        raise UnreadablePdfError(pdf_error_message(error)) from None
