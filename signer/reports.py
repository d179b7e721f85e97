"""Human-readable verification reports, in Vietnamese, for clerks (văn thư) and citizens."""

from __future__ import annotations

from datetime import UTC, datetime

from signer.verification.model import SignatureReport, VerificationReport
from signer.vietnam_time import VIETNAM_TIME

VERDICTS = {
    "passed": "HỢP LỆ",
    "failed": "KHÔNG HỢP LỆ",
    "indeterminate": "CHƯA XÁC ĐỊNH",
}
REVOCATION = {
    "good": "chưa bị thu hồi (đã kiểm tra)",
    "revoked": "ĐÃ BỊ THU HỒI",
    "unknown": "không xác định được",
    "not_checked": "chưa kiểm tra (ngoại tuyến, tệp không kèm dữ liệu thu hồi)",
}
COVERAGE = {
    "entire_file": "chữ ký bao trùm toàn bộ tệp",
    "entire_revision": "chữ ký bao trùm phiên bản đã ký; phần thêm sau được phân tích riêng",
    "partial": "chữ ký chỉ bao trùm một phần tệp",
}
MODIFICATIONS = {
    "none": "không có thay đổi sau khi ký",
    "dss_and_timestamps": "chỉ bổ sung dữ liệu kiểm tra và dấu thời gian",
    "form_filling": "chỉ bổ sung chữ ký tiếp theo và số, ngày ban hành vào ô để trống",
    "annotations": "CÓ THÊM CHÚ THÍCH (annotation) SAU KHI KÝ",
    "other": "CÓ THAY ĐỔI NỘI DUNG SAU KHI KÝ",
}
SUBINDICATIONS = {
    "TOTAL_PASSED": "đạt mọi kiểm tra",
    "HASH_FAILURE": "nội dung đã bị sửa sau khi ký",
    "SIG_CRYPTO_FAILURE": "chữ ký số không đúng về mật mã",
    "FORMAT_FAILURE": "cấu trúc chữ ký bị hỏng hoặc giả mạo",
    "NO_CERTIFICATE_CHAIN_FOUND": "chứng thư số không do tổ chức tin cậy cấp",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "chuỗi chứng thư số không hợp lệ",
    "CHAIN_CONSTRAINTS_FAILURE": "chứng thư số không được phép dùng để ký",
    "EXPIRED": "chứng thư số đã hết hạn khi ký",
    "REVOKED": "chứng thư số đã bị thu hồi",
    "CRYPTO_CONSTRAINTS_FAILURE": "thuật toán không còn được chấp nhận (ví dụ SHA-1)",
    "SIG_CONSTRAINTS_FAILURE": "văn bản bị thay đổi hoặc chữ ký vi phạm ràng buộc",
    "TRY_LATER": "chưa xác định được tình trạng thu hồi, hãy kiểm tra lại sau",
}


def format_time(value: str | None) -> str:
    """An ISO 8601 instant as Vietnam time, e.g. "14:05:09 ngày 27/11/2026 (giờ Việt Nam)"."""
    if value is None:
        return "không có"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(VIETNAM_TIME)
    return f"{local:%H:%M:%S} ngày {local:%d/%m/%Y} (giờ Việt Nam)"


def _yes_no(value: bool, yes: str, no: str) -> str:
    return yes if value else no


def _render_signature(index: int, signature: SignatureReport) -> list[str]:
    title = "Dấu thời gian tài liệu" if signature.kind == "document_timestamp" else "Chữ ký"
    lines = [f"{title} {index} (trường {signature.field}): {VERDICTS[signature.verdict]}"]
    signer = signature.signer
    who = "Đơn vị cấp dấu thời gian" if signature.kind == "document_timestamp" else "Người ký"
    if signer is not None:
        lines.append(f"  {who}: {signer.common_name}")
        agency = signer.organization or "không ghi"
        if signer.organization_identifier:
            agency += f" (mã định danh {signer.organization_identifier})"
        lines.append(f"  Cơ quan: {agency}")
        issuer = signer.issuer_common_name or signer.issuer
        lines.append(f"  Chứng thư số: số hiệu {signer.serial}, do {issuer} cấp")
    else:
        lines.append(f"  {who}: không đọc được")
    if signature.kind == "signature":
        lines.append(f"  Thời điểm ký (do người ký khai): {format_time(signature.signed_at)}")
    lines.append(f"  Dấu thời gian: {format_time(signature.timestamp)}")
    lines.append(
        "  Chứng thư tin cậy: "
        + _yes_no(signature.trusted, "có, dẫn tới chứng thư gốc tin cậy", "KHÔNG")
    )
    if signature.kind == "signature":
        lines.append(f"  Thu hồi: {REVOCATION[signature.revocation]}")
    lines.append(
        "  Toàn vẹn: "
        + _yes_no(signature.integrity, "nội dung đã ký còn nguyên vẹn", "KHÔNG CÒN NGUYÊN VẸN")
    )
    lines.append(
        f"  Phạm vi: {COVERAGE[signature.coverage]}; {MODIFICATIONS[signature.modifications]}"
    )
    if signature.pades_level:
        lines.append(f"  Mức chữ ký: PAdES {signature.pades_level}")
    if signature.verdict != "passed":
        meaning = SUBINDICATIONS.get(signature.subindication, signature.subindication)
        lines.append(f"  Lý do: {meaning} [{signature.subindication}]")
        lines.extend(f"    - {problem}" for problem in signature.problems)
    return lines


def render_text(report: VerificationReport) -> str:
    """A short report in Vietnamese: the verdict first, then one block per signature."""
    lines = [f"Tệp: {report.file}", f"Kết quả: {VERDICTS[report.verdict]}"]
    signatures = [s for s in report.signatures if s.kind == "signature"]
    if not report.signatures:
        lines.append("Lý do: văn bản không có chữ ký số.")
    elif report.verdict == "passed":
        lines.append(
            f"Văn bản có {len(signatures)} chữ ký số hợp lệ; "
            "không bị thay đổi sau khi ký ngoài các bổ sung được phép."
        )
    else:
        lines.append(f"Lý do (chi tiết kỹ thuật): {report.reason}")
    if report.modified_after_signing:
        lines.append("Cảnh báo: văn bản đã bị thay đổi sau khi ký.")
    for index, signature in enumerate(report.signatures, start=1):
        lines.append("")
        lines.extend(_render_signature(index, signature))
    return "\n".join(lines)


def summarize(report: VerificationReport) -> str:
    """One Vietnamese sentence saying why a document did not pass (or that it passed)."""
    signatures = [s for s in report.signatures if s.kind == "signature"]
    if not signatures:
        return "văn bản không có chữ ký số"
    if report.verdict == "passed":
        return f"{len(signatures)} chữ ký số hợp lệ, văn bản không bị thay đổi sau khi ký"
    parts: list[str] = []
    for index, signature in enumerate(report.signatures, start=1):
        if signature.verdict == "passed":
            continue
        who = signature.signer.common_name if signature.signer else "không rõ người ký"
        meaning = SUBINDICATIONS.get(signature.subindication, VERDICTS[signature.verdict].lower())
        parts.append(f"chữ ký {index} ({who}): {meaning}")
        break
    if report.modified_after_signing:
        parts.append("văn bản có thay đổi sau khi ký ngoài các bổ sung được phép")
    return "; ".join(parts) or VERDICTS[report.verdict].lower()
