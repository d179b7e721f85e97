"""Encrypted PDFs at every entry point: drafts opened and rewritten, passwords refused clearly,
files signed elsewhere verified as they are."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from signer.credentials import Credential
from signer.devpki import DEV_TSA_URL, DevServices
from signer.errors import EncryptedPdfError, PasswordProtectedError
from signer.issuing import InMemoryCounter, find_issue_blanks, issue_document, prepare_draft
from signer.signing import SignOptions, sign_pdf
from signer.trust import load_trust
from signer.verification import verify_pdf
from tests.support.cli import P12_DIR, PIN_ENV, assert_one_clear_line, run_cli
from tests.support.devservices import dev_sign_options
from tests.support.pdfs import encrypt

ISSUED_AT = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encrypted")


@pytest.fixture(scope="module")
def owner_only(folder: Path, sample_pdf: Path) -> Path:
    return encrypt(sample_pdf, folder / "owner-only.pdf")


@pytest.fixture(scope="module")
def with_password(folder: Path, sample_pdf: Path) -> Path:
    return encrypt(sample_pdf, folder / "password.pdf", user="mat-khau")


@pytest.fixture(scope="module")
def signed_encrypted(folder: Path, owner_only: Path, official: Credential) -> Path:
    """Signed elsewhere, inside its encryption, as pyHanko does it with its defaults."""
    writer = IncrementalPdfFileWriter(io.BytesIO(owner_only.read_bytes()))
    writer.encrypt("")  # type: ignore[no-untyped-call]
    out = folder / "signed-encrypted.pdf"
    with out.open("wb") as handle:
        signers.sign_pdf(
            writer,
            signers.PdfSignatureMetadata(field_name="ChuKyNoiKhac"),
            signer=official.signer,
            output=handle,
        )
    return out


@pytest.mark.parametrize("revision", [4, 6], ids=["aes-128", "aes-256"])
def test_an_owner_password_draft_is_rewritten_unencrypted_and_issued(
    revision: int,
    tmp_path: Path,
    sample_pdf: Path,
    official: Credential,
    agency: Credential,
    dev: DevServices,
) -> None:
    source = encrypt(sample_pdf, tmp_path / "source.pdf", r=revision)
    draft, signed, issued = tmp_path / "draft.pdf", tmp_path / "signed.pdf", tmp_path / "out.pdf"
    blanks = prepare_draft(source, draft)
    assert blanks == find_issue_blanks(sample_pdf.read_bytes())
    with pikepdf.open(draft) as pdf:
        assert not pdf.is_encrypted
    sign_pdf(draft, signed, official, SignOptions(field_name="ChuKyLanhDao"))
    options = dev_sign_options(dev, level="b-t", tsa_url=DEV_TSA_URL, field_name="ChuKyCoQuan")
    issue_document(signed, issued, agency, InMemoryCounter(), options, now=ISSUED_AT)
    report = verify_pdf(issued, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", report.reason


def test_an_owner_password_file_is_signed_unencrypted(
    tmp_path: Path, owner_only: Path, official: Credential
) -> None:
    out = tmp_path / "signed.pdf"
    sign_pdf(owner_only, out, official)
    with pikepdf.open(out) as pdf:
        assert not pdf.is_encrypted
    report = verify_pdf(out, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", report.reason


def test_a_file_signed_elsewhere_inside_its_encryption_verifies_as_it_is(
    signed_encrypted: Path,
) -> None:
    report = verify_pdf(signed_encrypted, trust=load_trust(development=True), offline=True)
    assert report.verdict == "passed", report.reason
    assert report.signatures[0].coverage == "entire_file"


def test_a_file_signed_elsewhere_inside_its_encryption_is_never_rewritten(
    tmp_path: Path, signed_encrypted: Path, official: Credential
) -> None:
    before = signed_encrypted.read_bytes()
    with pytest.raises(EncryptedPdfError, match="đã được ký số và được mã hóa"):
        prepare_draft(signed_encrypted, tmp_path / "draft.pdf")
    with pytest.raises(EncryptedPdfError, match="đã được ký số và được mã hóa"):
        sign_pdf(signed_encrypted, tmp_path / "signed.pdf", official)
    assert signed_encrypted.read_bytes() == before
    assert not (tmp_path / "draft.pdf").exists() and not (tmp_path / "signed.pdf").exists()


def test_a_password_protected_file_is_refused_by_the_library(
    tmp_path: Path, with_password: Path, official: Credential, agency: Credential
) -> None:
    with pytest.raises(PasswordProtectedError, match="bảo vệ bằng mật khẩu"):
        prepare_draft(with_password, tmp_path / "draft.pdf")
    with pytest.raises(PasswordProtectedError, match="bảo vệ bằng mật khẩu"):
        sign_pdf(with_password, tmp_path / "signed.pdf", official)
    with pytest.raises(PasswordProtectedError, match="bảo vệ bằng mật khẩu"):
        issue_document(with_password, tmp_path / "issued.pdf", agency, InMemoryCounter())
    with pytest.raises(PasswordProtectedError, match="bảo vệ bằng mật khẩu"):
        verify_pdf(with_password, trust=load_trust(development=True), offline=True)


def test_an_encrypted_file_that_was_not_prepared_is_not_issued(
    tmp_path: Path, owner_only: Path, agency: Credential
) -> None:
    counter = InMemoryCounter()
    with pytest.raises(EncryptedPdfError, match="congvan prepare"):
        issue_document(owner_only, tmp_path / "issued.pdf", agency, counter)
    assert counter.next_number("DEV.TPD.000", 2026) == 1  # no number was used


def _credential_args() -> list[str | Path]:
    return ["--credential", P12_DIR / "official-tpd-chutich.p12", "--pin-env", "CONGVAN_TEST_PIN"]


def test_the_command_line_answers_every_encrypted_case_in_one_line(
    tmp_path: Path, owner_only: Path, with_password: Path, signed_encrypted: Path
) -> None:
    prepared = run_cli("prepare", owner_only, "-o", tmp_path / "draft.pdf")
    assert prepared.returncode == 0, prepared.stderr
    signed = run_cli(
        "sign",
        owner_only,
        "-o",
        tmp_path / "s.pdf",
        "--level",
        "b-b",
        *_credential_args(),
        env=PIN_ENV,
    )
    assert signed.returncode == 0, signed.stderr
    verified = run_cli("verify", "--offline", signed_encrypted)
    assert verified.returncode == 0, verified.stderr

    for command in (
        ["prepare", with_password, "-o", tmp_path / "x.pdf"],
        ["sign", with_password, "-o", tmp_path / "x.pdf", "--level", "b-b", *_credential_args()],
        [
            "issue",
            with_password,
            "-o",
            tmp_path / "x.pdf",
            "--level",
            "b-b",
            "--counter",
            tmp_path / "so.json",
            *_credential_args(),
        ],
        ["verify", "--offline", with_password],
    ):
        result = run_cli(*command, env=PIN_ENV)
        assert result.returncode == 2, (command[0], result.stderr)
        assert_one_clear_line(result)
        assert "bảo vệ bằng mật khẩu" in result.stderr, result.stderr
    refused = run_cli(
        "sign",
        signed_encrypted,
        "-o",
        tmp_path / "x.pdf",
        "--level",
        "b-b",
        *_credential_args(),
        env=PIN_ENV,
    )
    assert refused.returncode == 2
    assert_one_clear_line(refused)
    assert "không thể bỏ mã hóa" in refused.stderr
    assert not (tmp_path / "x.pdf").exists()
