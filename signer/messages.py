"""Our Vietnamese words for the errors pyHanko and pdfminer raise on PDFs they cannot use.

The people who read these messages read Vietnamese; pyHanko and pdfminer speak English. Known
errors are recognised by their type or wording and told in our words, and the library's own text
follows in parentheses for whoever has to look further.
"""

from __future__ import annotations

PASSWORD_PROTECTED = (
    "tệp PDF được bảo vệ bằng mật khẩu: cần mật khẩu mới mở được nên không đọc được nội dung; "
    "hãy mở tệp bằng mật khẩu rồi xuất lại ra PDF không đặt mật khẩu (trong Word: Tệp > Lưu "
    "thành > PDF, không chọn mã hóa bằng mật khẩu), hoặc đề nghị nơi gửi cung cấp bản không "
    "đặt mật khẩu"
)
TRUNCATED = (
    "tệp PDF bị cắt cụt hoặc hỏng bảng tham chiếu chéo (có thể tải về chưa hết); "
    "hãy lấy lại tệp gốc hoặc xuất lại tệp PDF"
)
ENCRYPTED_SIGNED = (
    "tệp PDF đã được ký số và được mã hóa (đặt mật khẩu chủ sở hữu): không thể bỏ mã hóa mà "
    "không làm hỏng chữ ký đã có; hãy đề nghị nơi gửi cung cấp bản đã ký không mã hóa"
)
EMPTY_FILE = "tệp rỗng (0 byte), không phải tệp PDF"
NOT_PDF = "tệp không phải PDF (thiếu phần đầu %PDF-)"
TOO_DEEP = "tệp PDF lồng quá sâu, không đọc được"
NO_CATALOG = "tệp PDF thiếu danh mục tài liệu hoặc cây trang, không phải văn bản đọc được"
ENCRYPTED = (
    "tệp PDF được mã hóa (đặt mật khẩu chủ sở hữu hoặc hạn chế quyền): hãy xuất lại ra PDF "
    "không đặt mật khẩu, hoặc chuẩn bị dự thảo bằng congvan prepare (tự bỏ mã hóa)"
)

# (words in the library's message, lower case) -> what it means, in Vietnamese.
_KNOWN: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("hybrid",),
        "tệp PDF có bảng tham chiếu chéo kiểu lai (hybrid, thường do Microsoft Word/Excel xuất "
        "ra) nên không xử lý an toàn được; hãy xuất lại tệp PDF hoặc chuẩn bị dự thảo bằng "
        "congvan prepare",
    ),
    (
        ("authenticate", "decrypt", "encrypt", "security handler", "password"),
        ENCRYPTED,
    ),
    (
        (
            "eof marker",
            "unexpected eof",
            "startxref",
            "xref",
            "cross-reference",
            "ended unexpectedly",
            "ended prematurely",
            "trailer",
            "file corrupted",
        ),
        TRUNCATED,
    ),
    (
        ("page index out of range", "/count 0"),
        "văn bản không có trang nào",
    ),
    (("/pages", "page tree", "/root", "root object", "catalog", "/mediabox"), NO_CATALOG),
    (
        ("object stream",),
        "tệp PDF có luồng đối tượng (object stream) bị hỏng",
    ),
    (
        ("header",),
        "tệp đầu vào không phải PDF (phần đầu tệp không đúng)",
    ),
)
_TRUNCATED_TYPES = ("PSEOF", "PDFNoValidXRef", "PDFEOFError")
_ENCRYPTED_TYPES = ("PdfKeyNotAvailableError", "PDFEncryptionError")


def describe(error: BaseException, *, verbatim: bool = False) -> str:
    """The library's own text of ``error`` and its causes, on one short line.

    ``verbatim``: each text as the library wrote it, line breaks included, and not shortened
    (what the signing errors of signer/pades.py have always carried).
    """
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 4:
        text = str(current) if verbatim else " ".join(str(current).split())
        text = text or type(current).__name__
        if text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    joined = ": ".join(parts)
    return joined if verbatim or len(joined) <= 300 else joined[:297] + "..."


def _meaning(error: BaseException, text: str) -> str | None:
    names = {cls.__name__ for cls in type(error).__mro__}
    if "PDFPasswordIncorrect" in names:
        return PASSWORD_PROTECTED
    if names & set(_ENCRYPTED_TYPES):
        return ENCRYPTED
    if names & set(_TRUNCATED_TYPES):
        return TRUNCATED
    if isinstance(error, RecursionError):
        return TOO_DEEP
    lowered = text.lower()
    for words, meaning in _KNOWN:
        if any(word in lowered for word in words):
            return meaning
    return None


def pdf_error_message(error: BaseException, what: str = "tệp PDF") -> str:
    """A Vietnamese sentence for a pyHanko or pdfminer error met while reading ``what``."""
    detail = describe(error)
    meaning = _meaning(error, detail) or (
        f"không đọc được {what}: tệp bị hỏng hoặc có cấu trúc chương trình không đọc được"
    )
    return f"{meaning} (chi tiết: {detail})"


def time_limit_message(what: str, seconds: float) -> str:
    """A Vietnamese sentence for work on one file (``what``) stopped at its time limit."""
    return (
        f"{what} vượt quá thời gian cho phép ({seconds:g} giây) nên đã dừng: tệp quá lớn hoặc "
        "có cấu trúc bất thường"
    )


def signing_error_message(error: BaseException) -> str:
    """A Vietnamese sentence for an error pyHanko raised while signing."""
    detail = describe(error)
    meaning = _meaning(error, detail) or "ký số không thành công"
    return f"{meaning} (chi tiết: {detail})"


def file_error_message(error: OSError, path: str, action: str = "đọc") -> str:
    """A Vietnamese sentence for a file that cannot be read or written (``action``)."""
    import errno

    reasons = {
        errno.ENOENT: "không có tệp này",
        errno.EACCES: f"không có quyền {action} tệp",
        errno.EPERM: f"không có quyền {action} tệp",
        errno.EISDIR: "đây là thư mục, không phải tệp",
        errno.ENOSPC: "ổ đĩa đã đầy",
    }
    name = f" {path}" if path else " tệp"
    reason = reasons.get(error.errno or 0)
    if reason is None:
        return f"không {action} được{name} (chi tiết: {error.strerror or error})"
    return f"không {action} được{name}: {reason}"
