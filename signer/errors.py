"""Errors raised by the signer library.

A bad signature is never an exception: it is a verdict in a report. Exceptions here mean the input
could not be used at all.
"""

from __future__ import annotations


class SignerError(Exception):
    """Root of every error the signer library raises on purpose."""


class CredentialError(SignerError):
    """A credential (PKCS#12 file, PKCS#11 token, external signer) cannot be used."""


class WrongPinError(CredentialError):
    """The PIN or passphrase does not unlock the credential."""


class UnreadablePdfError(SignerError):
    """The input is not a PDF this library can read (empty, truncated, malformed, too deep)."""


class NotPdfError(UnreadablePdfError):
    """The input is no PDF at all: empty, or without a %PDF- header."""


class SigningError(SignerError):
    """Signing failed for a reason other than the credential or the input (e.g. the TSA is down)."""


class SignerBlockNotFoundError(SigningError):
    """No signer block (title and name) to put a visible signature in, and no place given."""


class TrustServiceError(SigningError):
    """A service the signature needs (timestamping, OCSP, CRL) did not answer; try again later."""


class VerificationTimeoutError(UnreadablePdfError):
    """Verification of one file exceeded its time limit."""


class IssueError(SignerError):
    """A document cannot go through the issue workflow (no blanks found, not prepared...)."""


class PasswordProtectedError(UnreadablePdfError):
    """The PDF needs a password to be opened (a user password): it cannot be read at all."""


class EncryptedPdfError(UnreadablePdfError):
    """The PDF is encrypted (it opens without a password) and cannot be used as it is here."""


class BlanksNotFoundError(IssueError):
    """Page 1 shows no blank for the number: the positions have to be given by hand."""


class BlankPlacementError(IssueError):
    """A blank given by hand cannot be used; ``field`` names the workflow field it was for."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
