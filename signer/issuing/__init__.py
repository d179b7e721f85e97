# mypy: disable-error-code="no-untyped-call"
"""The two-stage issue of Decree 30: the official signs the draft, the clerk issues it.

1. `prepare_draft` adds small blank text fields where the draft leaves the number ("Số:   /…")
   and the day and month ("…, ngày   tháng   năm 2026") blank.
2. The official signs the prepared draft (`sign_pdf`, personal certificate).
3. `issue_document` takes the next number from a `NumberSource`, fills the blanks with the number
   and the issue date, and applies the agency signature, all in one incremental update.

The verifier accepts filling exactly these blanks after the official's signature
(signer/fields.py); any other change between the two signatures fails verification.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError

from signer.appearance import locate_appearance
from signer.credentials import Credential
from signer.encryption import decrypt_unsigned
from signer.errors import (
    EncryptedPdfError,
    IssueError,
    PasswordProtectedError,
    SignerError,
    UnreadablePdfError,
)
from signer.fields import NUMBER_FIELD
from signer.files import write_atomically
from signer.hybrid import admit_hybrid_or_refuse, refuse_inconsistent_hybrid
from signer.issuing.blanks import (
    Blank,
    IssueBlanks,
    find_issue_blanks,
    given_blank,
    place_issue_blanks,
    read_page_blanks,
)
from signer.issuing.form import add_issue_fields, existing_fields, fill_issue_fields
from signer.messages import PASSWORD_PROTECTED, file_error_message, pdf_error_message
from signer.signing import SignOptions, SignResult, sign_pdf
from signer.vietnam_time import vietnam_date

__all__ = [
    "Blank",
    "FileCounter",
    "InMemoryCounter",
    "IssueBlanks",
    "IssueError",
    "IssueResult",
    "NumberSource",
    "fill_issue_fields",
    "find_issue_blanks",
    "given_blank",
    "issue_document",
    "prepare_draft",
    "vietnam_date",
]


NOT_PREPARED_ENCRYPTED = (
    "tệp PDF được mã hóa nên không phải dự thảo đã chuẩn bị để ban hành: hãy chuẩn bị dự thảo "
    "bằng congvan prepare (tự bỏ mã hóa), trình lãnh đạo ký, rồi mới ban hành"
)


class NumberSource(Protocol):
    """Gives the next outgoing number of an agency in a year (1, 2, 3... from 1 January)."""

    def next_number(self, agency: str, year: int) -> int:
        """Reserve and return the next number."""
        ...


class InMemoryCounter:
    """A thread-safe counter per agency and year; the exchange provides the durable register."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int], int] = {}

    def next_number(self, agency: str, year: int) -> int:
        """The last number of this agency and year, plus one."""
        with self._lock:
            number = self._last.get((agency, year), 0) + 1
            self._last[(agency, year)] = number
            return number


class FileCounter:
    """Numbers kept in a small JSON file, safe across processes (for the command line).

    The exchange keeps its registers in the database; this is for clerks issuing from the
    command line on one machine. The file is locked while a number is taken and rewritten
    atomically, so concurrent `congvan issue` runs never share or skip a number.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def next_number(self, agency: str, year: int) -> int:
        """The last number of this agency and year in the file, plus one, saved before return."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                counts = json.loads(self.path.read_text("utf-8")) if self.path.exists() else {}
            except (OSError, ValueError) as error:
                raise IssueError(f"sổ đếm số văn bản {self.path} bị hỏng: {error}") from None
            key = f"{agency}/{year}"
            number = int(counts.get(key, 0)) + 1
            counts[key] = number
            text = json.dumps(counts, ensure_ascii=False, indent=1, sort_keys=True)
            write_atomically(self.path, lambda handle: handle.write(text.encode("utf-8")))
            return number


def prepare_draft(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    blanks: IssueBlanks | None = None,
    *,
    given: Mapping[str, Blank] | None = None,
) -> IssueBlanks:
    """Write ``source`` with the issue blanks as fields.

    The blanks are found on page 1, except those ``given`` by hand (field name to box, see
    `given_blank`), which are checked to cover no printed text; ``blanks`` skips both. An
    encrypted draft that opens without a password is first rewritten whole, unencrypted: it
    carries no signature yet, so nothing is lost.
    """
    try:
        data = Path(source).read_bytes()
    except OSError as error:
        raise UnreadablePdfError(file_error_message(error, os.fspath(source))) from None
    if not data.startswith(b"%PDF-"):
        raise UnreadablePdfError("tệp đầu vào không phải PDF (thiếu phần đầu %PDF-)")
    refuse_inconsistent_hybrid(data)  # before the page is read: the two views may differ
    data = decrypt_unsigned(data)
    buffer = io.BytesIO()
    try:
        # The file's structure first: a truncated file is told as such, not as a missing line.
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
        admit_hybrid_or_refuse(writer.prev)
        if blanks is None:
            blanks = place_issue_blanks(data, given) if given else find_issue_blanks(data)
        add_issue_fields(writer, blanks)
        writer.write(buffer)
    except SignerError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise UnreadablePdfError(pdf_error_message(error)) from None
    except RecursionError:
        raise UnreadablePdfError("tệp PDF lồng quá sâu, không đọc được") from None
    write_atomically(Path(output), lambda handle: handle.write(buffer.getvalue()))
    return blanks


@dataclass(frozen=True)
class IssueResult:
    """The number and issue time given to the document, and its agency signature."""

    agency: str
    number: int
    issued_at: datetime
    signature: SignResult

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form (issue time in Vietnam time, ISO 8601)."""
        return {
            "agency": self.agency,
            "number": self.number,
            "issued_at": vietnam_date(self.issued_at).isoformat(timespec="seconds"),
            **self.signature.to_dict(),
        }


def _check_prepared(source: str | os.PathLike[str]) -> None:
    """Refuse before a number is taken, so a document that cannot be issued wastes none."""
    try:
        with open(source, "rb") as handle:
            if handle.read(5) != b"%PDF-":
                raise UnreadablePdfError("tệp đầu vào không phải PDF (thiếu phần đầu %PDF-)")
            handle.seek(0)
            writer = IncrementalPdfFileWriter(handle, strict=True)
            admit_hybrid_or_refuse(writer.prev)
            if writer.prev.encrypted:
                # prepare_draft never writes an encrypted draft: this one was not prepared here.
                if writer.prev.decrypt("").status == AuthStatus.FAILED:
                    raise PasswordProtectedError(PASSWORD_PROTECTED)
                raise EncryptedPdfError(NOT_PREPARED_ENCRYPTED)
            fields = existing_fields(writer)
    except OSError as error:
        raise UnreadablePdfError(file_error_message(error, os.fspath(source))) from None
    except SignerError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise UnreadablePdfError(pdf_error_message(error)) from None
    except RecursionError:
        raise UnreadablePdfError("tệp PDF lồng quá sâu, không đọc được") from None
    if NUMBER_FIELD not in fields:
        raise IssueError(
            "văn bản chưa có ô số ban hành: hãy chuẩn bị dự thảo (prepare) trước khi lãnh đạo ký"
        )
    if any(field.get("/V") for field in fields.values()):
        raise IssueError("văn bản đã được ban hành (ô số đã được điền)")


def issue_document(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    credential: Credential,
    numbers: NumberSource,
    options: SignOptions | None = None,
    *,
    agency: str | None = None,
    now: datetime | None = None,
) -> IssueResult:
    """Give the signed draft its number and issue date and apply the agency signature.

    The number comes from ``numbers`` for the agency (its identifier from the certificate
    unless given) and the year of issue in Vietnam time. Filling and signing are one
    incremental update: the agency signature covers the number and date it gives.
    """
    agency = agency or credential.organization_identifier or credential.organization
    if not agency:
        raise IssueError("chứng thư số cơ quan không ghi mã định danh hay tên cơ quan")
    _check_prepared(source)
    issued_at = now or datetime.now(UTC)
    year = vietnam_date(issued_at).year
    # A draft whose blanks were placed by hand (a scan) may print no year: nothing to compare.
    printed = read_page_blanks(Path(source).read_bytes()).year
    if printed is not None and printed != year:
        raise IssueError(
            f"dự thảo ghi năm {printed} nhưng ngày ban hành thuộc năm {year}: "
            "hãy sửa năm trên dự thảo và trình ký lại"
        )
    options = options or SignOptions()
    if options.appearance is not None:
        # Where the seal goes is known before a number is taken: a refusal spends none.
        options = replace(options, appearance=locate_appearance(options.appearance, source))
    number = numbers.next_number(agency, year)
    signature = sign_pdf(
        source,
        output,
        credential,
        options,
        before_signing=lambda writer: fill_issue_fields(writer, number, issued_at),
    )
    return IssueResult(agency=agency, number=number, issued_at=issued_at, signature=signature)
