"""The `congvan sign` and `congvan verify` contract, run as a user runs it: a real process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import P12_DIR, PIN_ENV, ROOT, assert_one_clear_line, run_cli


@pytest.fixture(scope="module")
def signed_pdf(
    tmp_path_factory: pytest.TempPathFactory, sample_pdf: Path, dev_services: str
) -> Path:
    out = tmp_path_factory.mktemp("cli") / "signed.pdf"
    result = run_cli(
        "sign",
        sample_pdf,
        "-o",
        out,
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--level",
        "b-lt",
        "--reason",
        "Phát hành",
        env=PIN_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return out


def test_verify_passes_a_signed_document_with_exit_0(signed_pdf: Path) -> None:
    result = run_cli("verify", signed_pdf, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HỢP LỆ" in result.stdout
    assert result.stderr == ""


def test_verify_json_follows_the_contract(signed_pdf: Path) -> None:
    result = run_cli("verify", signed_pdf, "--offline", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"verdict", "reason", "modified_after_signing", "signatures"} <= report.keys()
    assert report["verdict"] == "passed"
    assert report["modified_after_signing"] is False
    (signature,) = report["signatures"]
    assert set(signature) >= {
        "field",
        "signer",
        "signed_at",
        "timestamp",
        "integrity",
        "trusted",
        "revocation",
        "coverage",
        "modifications",
        "pades_level",
        "verdict",
        "subindication",
        "problems",
    }
    assert set(signature["signer"]) >= {"common_name", "organization", "serial", "issuer"}
    assert signature["signer"]["organization"] == "Ủy ban nhân dân huyện Tân Phú Đông"
    assert signature["integrity"] is True and signature["trusted"] is True
    assert signature["revocation"] == "good"  # embedded at B-LT, judged offline
    # The DSS added for B-LT follows the signed revision: a permitted addition.
    assert signature["coverage"] == "entire_revision"
    assert signature["modifications"] == "dss_and_timestamps"
    assert signature["pades_level"] == "B-LT"
    assert signature["signer"]["issuer"].startswith("CN=congvan DEV Official-Use CA")


def test_verify_fails_a_modified_document_with_exit_1(signed_pdf: Path, tmp_path: Path) -> None:
    data = bytearray(signed_pdf.read_bytes())
    position = (
        data.index(b"stream\n") + 20
    )  # a byte of the first content stream, inside the signed range
    data[position] ^= 0x01
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(bytes(data))
    result = run_cli("verify", forged, "--offline")
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "KHÔNG HỢP LỆ" in result.stdout


def test_verify_fails_an_unsigned_document_with_exit_1(sample_pdf: Path) -> None:
    result = run_cli("verify", sample_pdf, "--offline", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["verdict"] == "failed"
    assert_one_clear_line(result)


@pytest.mark.parametrize(
    "content",
    [b"", b"%PDF-1.7\n1 0 obj\n<<", b"\x89PNG\r\n\x1a\n" + b"\0" * 64],
    ids=["empty", "truncated", "png"],
)
def test_verify_unreadable_input_exits_2(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    result = run_cli("verify", path, "--offline")
    assert result.returncode == 2
    assert_one_clear_line(result)


def test_verify_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("verify", tmp_path / "missing.pdf")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_verify_several_files_reports_each_and_exits_with_the_worst(
    signed_pdf: Path, sample_pdf: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    result = run_cli("verify", signed_pdf, sample_pdf, empty, "--offline", "--json")
    assert result.returncode == 2
    verdicts = [json.loads(line)["verdict"] for line in result.stdout.splitlines()]
    assert verdicts == ["passed", "failed", "failed"]


def test_verify_in_production_mode_does_not_trust_the_development_root(signed_pdf: Path) -> None:
    result = run_cli("verify", signed_pdf, "--offline", "--json", env={"CONGVAN_ENV": "production"})
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["verdict"] == "failed"
    assert report["signatures"][0]["trusted"] is False


def test_verify_production_mode_trusts_an_explicit_root(signed_pdf: Path) -> None:
    root = ROOT / "certs" / "dev" / "certs" / "vn-dev-root.cert.pem"
    result = run_cli(
        "verify", signed_pdf, "--offline", "--trust", root, env={"CONGVAN_ENV": "production"}
    )
    assert result.returncode == 0, result.stderr


def test_sign_with_wrong_pin_is_a_clear_error(sample_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    result = run_cli(
        "sign",
        sample_pdf,
        "-o",
        out,
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--level",
        "b-b",
        env={"CONGVAN_TEST_PIN": "sai-ma-pin"},
    )
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "PIN" in result.stderr
    assert not out.exists()


def test_sign_with_unset_pin_variable_is_a_clear_error(sample_pdf: Path, tmp_path: Path) -> None:
    result = run_cli(
        "sign",
        sample_pdf,
        "-o",
        tmp_path / "out.pdf",
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_NO_SUCH_VARIABLE",
    )
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "CONGVAN_NO_SUCH_VARIABLE" in result.stderr


def test_sign_a_non_pdf_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "note.pdf"
    source.write_text("đây không phải PDF")
    out = tmp_path / "out.pdf"
    result = run_cli(
        "sign",
        source,
        "-o",
        out,
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--level",
        "b-b",
        env=PIN_ENV,
    )
    assert result.returncode == 2
    assert_one_clear_line(result)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [source]


def test_sign_with_a_missing_credential_file_is_a_clear_error(
    sample_pdf: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "sign",
        sample_pdf,
        "-o",
        tmp_path / "out.pdf",
        "--credential",
        tmp_path / "none.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        env=PIN_ENV,
    )
    assert result.returncode == 1
    assert_one_clear_line(result)


def test_demo_issues_the_sample_with_both_signatures_passing(
    tmp_path: Path, dev_services: str
) -> None:
    result = run_cli("demo", "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "HỢP LỆ" in result.stdout
    issued = tmp_path / "2-da-ban-hanh.pdf"
    report = json.loads(run_cli("verify", issued, "--json").stdout)
    assert report["verdict"] == "passed"
    signers = [s["signer"]["organization"] for s in report["signatures"] if s["signer"]]
    assert signers.count("Ủy ban nhân dân huyện Tân Phú Đông") == 2
    assert "số 01" in result.stdout
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(issued), "-"], capture_output=True, text=True
    ).stdout
    assert "01" in text.split("Số:")[1][:12]


def test_prepare_sign_issue_from_the_command_line(
    sample_pdf: Path, tmp_path: Path, dev_services: str
) -> None:
    assets = ROOT / "certs" / "dev" / "assets"
    draft, signed = tmp_path / "draft.pdf", tmp_path / "signed.pdf"
    counter = tmp_path / "so-di.json"
    assert run_cli("prepare", sample_pdf, "-o", draft).returncode == 0
    result = run_cli(
        "sign",
        draft,
        "-o",
        signed,
        "--credential",
        P12_DIR / "official-tpd-chutich.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--field",
        "ChuKyLanhDao",
        "--visible",
        "official",
        "--image",
        assets / "official-tpd-chutich.png",
        env=PIN_ENV,
    )
    assert result.returncode == 0, result.stderr
    numbers = []
    for name in ("issued-1.pdf", "issued-2.pdf"):
        result = run_cli(
            "issue",
            signed,
            "-o",
            tmp_path / name,
            "--credential",
            P12_DIR / "agency-tpd.p12",
            "--pin-env",
            "CONGVAN_TEST_PIN",
            "--counter",
            counter,
            "--json",
            "--visible",
            "agency",
            "--image",
            assets / "agency-tpd.png",
            env=PIN_ENV,
        )
        assert result.returncode == 0, result.stderr
        numbers.append(json.loads(result.stdout)["number"])
    assert numbers == [1, 2]
    verified = run_cli("verify", tmp_path / "issued-2.pdf", "--offline")
    assert verified.returncode == 0, verified.stdout


def test_issue_of_an_unprepared_document_is_one_clear_error(
    signed_pdf: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "issue",
        signed_pdf,
        "-o",
        tmp_path / "out.pdf",
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--counter",
        tmp_path / "so.json",
        env=PIN_ENV,
    )
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "chuẩn bị" in result.stderr
    assert not (tmp_path / "out.pdf").exists()
    assert not (tmp_path / "so.json").exists()


def test_sign_into_a_missing_folder_names_the_folder(sample_pdf: Path, tmp_path: Path) -> None:
    missing = tmp_path / "khong-co"
    result = run_cli(
        "sign",
        sample_pdf,
        "-o",
        missing / "out.pdf",
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--level",
        "b-b",
        env=PIN_ENV,
    )
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert str(missing) in result.stderr and ".part" not in result.stderr


def test_sign_with_an_image_that_is_not_a_png_is_a_clear_error(
    sample_pdf: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "sign",
        sample_pdf,
        "-o",
        tmp_path / "out.pdf",
        "--credential",
        P12_DIR / "agency-tpd.p12",
        "--pin-env",
        "CONGVAN_TEST_PIN",
        "--level",
        "b-b",
        "--visible",
        "agency",
        "--image",
        sample_pdf,
        env=PIN_ENV,
    )
    assert result.returncode == 1
    assert_one_clear_line(result)
    assert "PNG" in result.stderr and "BytesIO" not in result.stderr
    assert not (tmp_path / "out.pdf").exists()
