"""The producer matrix: one Decree 30 letter made by the programs agencies' PDFs come from.

Every file is generated at test time by real programs from Debian's packages (LibreOffice,
Chromium, Ghostscript, qpdf, poppler, img2pdf) into a folder of the test session: nothing is
downloaded and nothing is copied from another project. The letter (a công văn of the district
People's Committee of Tân Phú Đông, signed "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH" by Trần Thị Hồng Nhung,
the development official `official-tpd-phochutich`) is written here once as a small document
model and rendered to Flat ODT for LibreOffice and to HTML for Chromium.

`ProducerMatrix.path(name)` makes a producer's file on first use and keeps it; the LibreOffice
files are converted in one `soffice` call with a private profile, since LibreOffice is slow to
start and profiles clash between parallel runs.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from signer.appearance import Placement
    from signer.issuing.blanks import IssueBlanks

DATA_DIR = Path(__file__).parents[1] / "data"

# Seconds allowed to each program; LibreOffice's first start in a fresh profile is the slowest.
SOFFICE_TIMEOUT = 240
TOOL_TIMEOUT = 120

# The letter's font, and a font without Vietnamese letters with stacked marks (Ủ, ậ, ữ, ế...):
# Nimbus Roman (Debian's fonts-urw-base35, the Times clone Ghostscript uses) has "ă", "â", "đ"
# but none of the precomposed letters of Latin Extended Additional, so LibreOffice draws those
# from a fallback font, in runs of their own.
FONT = "Liberation Serif"
FONT_WITHOUT_VIETNAMESE = "Nimbus Roman"
STACKED_LETTERS = "ỦẬỮỨẾỆỊọầịữố"

OWNER_PASSWORD = "owner-pass"
SCAN_DPI = 150

# --- the letter ---------------------------------------------------------------------------------

AGENCY = ("ỦY BAN NHÂN DÂN", "HUYỆN TÂN PHÚ ĐÔNG")
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
NOTATION = "/UBND-VP"
NUMBER_GAP = 6  # spaces left blank for the number
DATE_GAP = 6  # spaces left blank for the day, and for the month
PLACE = "Tân Phú Đông"
SUBJECT = ("V/v tiếp nhận và xử lý những", "văn bản điện tử có chữ ký số")
ADDRESSEE = "Kính gửi: Ủy ban nhân dân các xã trên địa bàn huyện."
BODY = (
    "Thực hiện Quyết định của Ủy ban nhân dân huyện về việc ban hành Quy chế tiếp nhận, "
    "xử lý văn bản điện tử, Ủy ban nhân dân huyện đề nghị Ủy ban nhân dân các xã thực hiện "
    "tốt những nội dung sau:",
    "1. Bộ phận tiếp nhận và trả kết quả kiểm tra chữ ký số của những văn bản điện tử đến "
    "trước khi vào sổ; văn bản không hợp lệ được trả lại nơi gửi trên hệ thống kèm lý do.",
    "2. Công chức được giao xử lý chịu trách nhiệm về tiến độ và kết quả; những văn bản khẩn "
    "được chuyển ngay sau khi tiếp nhận, không để phát sinh hồ sơ trễ hạn.",
    "3. Văn thư sử dụng chữ ký số của cơ quan khi ban hành Quyết định, công văn và những văn "
    "bản khác; không gửi kèm văn bản giấy đối với văn bản đã được gửi qua hệ thống.",
    "Đề nghị Chủ tịch Ủy ban nhân dân các xã quan tâm chỉ đạo thực hiện./.",
)
RECIPIENTS = ("- Như trên;", "- TT. Huyện ủy, TT. HĐND huyện;", "- CT, các PCT UBND huyện;")
ARCHIVE = "- Lưu: VT, VP."
SIGNER_BLOCK = ("TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH")
SIGNATURE_LINES = 4  # empty lines between the title and the name
SIGNER_NAME = "Trần Thị Hồng Nhung"

OFFICIAL = "official-tpd-phochutich"
AGENCY_LABEL = "agency-tpd"


def number_line() -> str:
    return "Số:" + " " * NUMBER_GAP + NOTATION


def date_line() -> str:
    gap = " " * DATE_GAP
    return f"{PLACE}, ngày{gap}tháng{gap}năm 2026"


# --- Flat ODT for LibreOffice -----------------------------------------------------------------

_FODT_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:font-face-decls>
  <style:font-face style:name="Doc" svg:font-family="'{font}'" style:font-family-generic="roman"
   style:font-pitch="variable"/>
 </office:font-face-decls>
 <office:styles>
  <style:default-style style:family="paragraph">
   <style:paragraph-properties fo:margin-top="0cm" fo:margin-bottom="0cm"/>
   <style:text-properties style:font-name="Doc" fo:font-size="14pt" fo:language="vi"
    fo:country="VN" style:font-name-asian="Doc" style:font-name-complex="Doc"/>
  </style:default-style>
 </office:styles>
 <office:automatic-styles>
  <style:style style:name="Head" style:family="table">
   <style:table-properties style:width="16.5cm" table:align="left"/>
  </style:style>
  <style:style style:name="Left" style:family="table-column">
   <style:table-column-properties style:column-width="6.2cm"/>
  </style:style>
  <style:style style:name="Right" style:family="table-column">
   <style:table-column-properties style:column-width="10.3cm"/>
  </style:style>
  <style:style style:name="Cell" style:family="table-cell">
   <style:table-cell-properties fo:padding="0cm" fo:border="none"/>
  </style:style>
  <style:style style:name="C13" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center"/>
   <style:text-properties fo:font-size="13pt"/>
  </style:style>
  <style:style style:name="C13B" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center"/>
   <style:text-properties fo:font-size="13pt" fo:font-weight="bold"/>
  </style:style>
  <style:style style:name="C12B" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center"/>
   <style:text-properties fo:font-size="12pt" fo:font-weight="bold"/>
  </style:style>
  <style:style style:name="C14B" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center"/>
   <style:text-properties fo:font-size="14pt" fo:font-weight="bold"/>
  </style:style>
  <style:style style:name="C14I" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center" fo:margin-top="6pt"/>
   <style:text-properties fo:font-size="14pt" fo:font-style="italic"/>
  </style:style>
  <style:style style:name="C13N" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center" fo:margin-top="6pt"/>
   <style:text-properties fo:font-size="13pt"/>
  </style:style>
  <style:style style:name="C12" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center"/>
   <style:text-properties fo:font-size="12pt"/>
  </style:style>
  <style:style style:name="To" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center" fo:margin-top="18pt"
    fo:margin-bottom="6pt"/>
  </style:style>
  <style:style style:name="Body" style:family="paragraph">
   <style:paragraph-properties fo:text-align="justify" fo:text-indent="1cm"
    fo:margin-bottom="6pt" fo:line-height="115%"/>
  </style:style>
  <style:style style:name="L12BI" style:family="paragraph">
   <style:paragraph-properties fo:margin-top="12pt"/>
   <style:text-properties fo:font-size="12pt" fo:font-weight="bold" fo:font-style="italic"/>
  </style:style>
  <style:style style:name="L11" style:family="paragraph">
   <style:text-properties fo:font-size="11pt"/>
  </style:style>
  <style:style style:name="C14BT" style:family="paragraph">
   <style:paragraph-properties fo:text-align="center" fo:margin-top="12pt"/>
   <style:text-properties fo:font-size="14pt" fo:font-weight="bold"/>
  </style:style>
  <style:page-layout style:name="A4">
   <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm"
    fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="3cm" fo:margin-right="1.5cm"/>
  </style:page-layout>
 </office:automatic-styles>
 <office:master-styles>
  <style:master-page style:name="Standard" style:page-layout-name="A4"/>
 </office:master-styles>
 <office:body>
  <office:text>
"""
_FODT_TAIL = """  </office:text>
 </office:body>
</office:document>
"""


def _odt_text(text: str) -> str:
    """Text with runs of spaces kept, as ODF wants them (<text:s text:c="n"/>)."""
    out: list[str] = []
    for index, part in enumerate(text.split(" ")):
        if index:
            out.append(" ")
        out.append(escape(part))
    joined = "".join(out)
    # Collapse every run of two or more spaces into one space plus <text:s/> for the rest.
    while "  " in joined:
        start = joined.index("  ")
        end = start
        while end < len(joined) and joined[end] == " ":
            end += 1
        joined = f'{joined[:start]} <text:s text:c="{end - start - 1}"/>{joined[end:]}'
    return joined


def _p(style: str, text: str = "") -> str:
    return f'<text:p text:style-name="{style}">{_odt_text(text)}</text:p>'


def _table(name: str, left: list[str], right: list[str]) -> str:
    cell = (
        '<table:table-cell table:style-name="Cell" office:value-type="string">{}</table:table-cell>'
    )
    return (
        f'<table:table table:name="{name}" table:style-name="Head">'
        '<table:table-column table:style-name="Left"/>'
        '<table:table-column table:style-name="Right"/>'
        f"<table:table-row>{cell.format(''.join(left))}{cell.format(''.join(right))}"
        "</table:table-row></table:table>"
    )


def fodt(font: str) -> str:
    """The letter as a Flat ODT document set in ``font``."""
    header = _table(
        "Header",
        [
            _p("C13", AGENCY[0]),
            _p("C13B", AGENCY[1]),
            _p("C13", "_______"),
            _p("C13N", number_line()),
            _p("C12", SUBJECT[0]),
            _p("C12", SUBJECT[1]),
        ],
        [
            _p("C12B", MOTTO[0]),
            _p("C13B", MOTTO[1]),
            _p("C13", "_______________________"),
            _p("C14I", date_line()),
        ],
    )
    body = [_p("To", ADDRESSEE), *(_p("Body", paragraph) for paragraph in BODY)]
    footer = _table(
        "Signer",
        [
            _p("L12BI", "Nơi nhận:"),
            *(_p("L11", line) for line in RECIPIENTS),
            _p("L11", ARCHIVE),
        ],
        [
            _p("C14BT", SIGNER_BLOCK[0]),
            _p("C14B", SIGNER_BLOCK[1]),
            _p("C14B", SIGNER_BLOCK[2]),
            *(_p("C14B") for _ in range(SIGNATURE_LINES)),
            _p("C14B", SIGNER_NAME),
        ],
    )
    return _FODT_HEAD.replace("{font}", font) + header + "".join(body) + footer + _FODT_TAIL


# --- HTML for Chromium ------------------------------------------------------------------------

_HTML_STYLE = """
@page { size: A4; margin: 20mm 15mm 20mm 30mm; }
html { font-family: "Liberation Serif", "Times New Roman", serif; font-size: 14pt; }
body { margin: 0; }
p { margin: 0; }
table { width: 100%; border-collapse: collapse; }
td { vertical-align: top; padding: 0; text-align: center; }
td.left { width: 37%; }
.b { font-weight: bold; }
.i { font-style: italic; }
.s13 { font-size: 13pt; }
.s12 { font-size: 12pt; }
.s11 { font-size: 11pt; }
.gap { white-space: pre; }
.to { text-align: center; margin: 18pt 0 6pt; }
.body { text-align: justify; text-indent: 1cm; line-height: 1.15; margin-bottom: 6pt; }
.recipients { text-align: left; }
"""


def _h(text: str) -> str:
    return html.escape(text, quote=False)


def html_letter() -> str:
    """The letter as an HTML page for Chromium's print to PDF."""
    empty = "".join('<p class="b">&nbsp;</p>' for _ in range(SIGNATURE_LINES))
    body = "".join(f'<p class="body">{_h(paragraph)}</p>' for paragraph in BODY)
    recipients = "".join(f'<p class="s11">{_h(line)}</p>' for line in (*RECIPIENTS, ARCHIVE))
    return f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>Công văn</title>
<style>{_HTML_STYLE}</style></head><body>
<table><tr>
<td class="left">
<p class="s13">{_h(AGENCY[0])}</p><p class="s13 b">{_h(AGENCY[1])}</p>
<p class="s13">_______</p>
<p class="s13 gap" style="margin-top:6pt">{_h(number_line())}</p>
<p class="s12">{_h(SUBJECT[0])}</p><p class="s12">{_h(SUBJECT[1])}</p>
</td>
<td>
<p class="s12 b">{_h(MOTTO[0])}</p><p class="s13 b">{_h(MOTTO[1])}</p>
<p class="s13">_______________________</p>
<p class="i gap" style="margin-top:6pt">{_h(date_line())}</p>
</td></tr></table>
<p class="to">{_h(ADDRESSEE)}</p>
{body}
<table><tr>
<td class="left recipients">
<p class="s12 b i" style="margin-top:12pt">Nơi nhận:</p>{recipients}</td>
<td><p class="b" style="margin-top:12pt">{_h(SIGNER_BLOCK[0])}</p>
<p class="b">{_h(SIGNER_BLOCK[1])}</p><p class="b">{_h(SIGNER_BLOCK[2])}</p>
{empty}<p class="b">{_h(SIGNER_NAME)}</p></td>
</tr></table>
</body></html>
"""


# --- running the programs -----------------------------------------------------------------------


class ProducerError(AssertionError):
    """A producer program failed or is missing: the matrix fails loudly, it never skips."""


def run(command: list[str], *, timeout: float = TOOL_TIMEOUT, cwd: Path | None = None) -> str:
    """Run a program, raise ProducerError with its output when it fails; return its stdout."""
    if shutil.which(command[0]) is None:
        raise ProducerError(f"{command[0]} is missing: run .ci/setup (Debian packages)")
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        raise ProducerError(f"{command[0]} took more than {timeout} s: {command}") from None
    if result.returncode != 0:
        raise ProducerError(
            f"{command} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def libreoffice_convert(sources: list[Path], outdir: Path, profile: Path) -> list[Path]:
    """Convert documents to PDF in one `soffice --headless` run with a private profile."""
    run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf:writer_pdf_Export",
            "--outdir",
            str(outdir),
            *(str(source) for source in sources),
        ],
        timeout=SOFFICE_TIMEOUT,
    )
    outputs = [outdir / (source.stem + ".pdf") for source in sources]
    missing = [str(path) for path in outputs if not path.exists()]
    if missing:
        raise ProducerError(f"LibreOffice wrote no PDF for {missing}")
    return outputs


def chromium_print(source: Path, out: Path, profile: Path) -> None:
    """Print an HTML file to PDF with headless Chromium."""
    run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            source.as_uri(),
        ]
    )
    if not out.exists():
        raise ProducerError("Chromium wrote no PDF")


def ghostscript_rewrite(source: Path, out: Path) -> None:
    run(
        [
            "gs",
            "-q",
            "-sDEVICE=pdfwrite",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-o",
            str(out),
            str(source),
        ]
    )


def qpdf(source: Path, out: Path, *options: str) -> None:
    """qpdf with options; exit code 3 (warnings, file written) counts as success too."""
    command = ["qpdf", *options, str(source), str(out)]
    if shutil.which("qpdf") is None:
        raise ProducerError("qpdf is missing: run .ci/setup (Debian packages)")
    result = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    if result.returncode not in (0, 3) or not out.exists():
        raise ProducerError(f"{command} exited with {result.returncode}: {result.stderr}")


def scan(source: Path, out: Path, workdir: Path) -> None:
    """Page 1 rendered in grey at SCAN_DPI and wrapped as an image-only A4 PDF, like a scanner."""
    prefix = workdir / f"{out.stem}-page"
    # pdftoppm's -gray applies to PGM output (its PNG stays RGB): a greymap, as scanners send.
    run(
        [
            "pdftoppm",
            "-r",
            str(SCAN_DPI),
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(source),
            str(prefix),
        ]
    )
    run(["img2pdf", "--pagesize", "A4", "-o", str(out), f"{prefix}.pgm"])


def make_hybrid_file(source: Path, out: Path) -> None:
    """The Office-style hybrid-reference file, by helper code in tests/support/hybrid.py."""
    from tests.support.hybrid import (
        make_hybrid,  # imported here: the generator lives in its own module
    )

    out.write_bytes(make_hybrid(source.read_bytes()))


# --- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Producer:
    """One way the document is made, and what the test expects of it."""

    name: str
    claim: str  # the structural property the file must really have
    official: str = OFFICIAL
    agency: str = AGENCY_LABEL
    notation: str = NOTATION
    signer_page: int = 0
    scan: bool = False


SAMPLES = {
    "cong-van-cai-cach-hanh-chinh": ("official-tpd-phochutich", "agency-tpd", "/UBND-VP", 0),
    "giay-moi-doi-thoai": ("official-phuthanh-chutich", "agency-phuthanh", "/GM-UBND", 0),
    "quyet-dinh-quy-che-van-ban-dien-tu": (
        "official-tanthoi-chutich",
        "agency-tanthoi",
        "/QĐ-UBND",
        2,
    ),
}

PRODUCERS: tuple[Producer, ...] = (
    Producer("libreoffice", "classic xref table, one font with Vietnamese glyphs"),
    Producer("libreoffice-fallback", "a font without stacked Vietnamese letters and a fallback"),
    Producer("chromium", "Chromium (Skia) print to PDF"),
    Producer("ghostscript", "Ghostscript pdfwrite rewrite"),
    Producer("qpdf-object-streams", "object streams and cross-reference streams"),
    Producer("qpdf-linearized", "linearized (fast web view)"),
    Producer("qpdf-pdf20", "%PDF-2.0 header"),
    Producer("qpdf-encrypted", "AES-256 with an owner password and an empty user password"),
    Producer("hybrid", "hybrid reference: classic table with an /XRefStm companion stream"),
    Producer("scan", "image only, no text layer", scan=True),
    *(
        Producer(
            f"sample-{stem}-object-streams",
            "shared sample with object streams and cross-reference streams",
            official=official,
            agency=agency,
            notation=notation,
            signer_page=page,
        )
        for stem, (official, agency, notation, page) in SAMPLES.items()
    ),
)
BY_NAME = {producer.name: producer for producer in PRODUCERS}


class ProducerMatrix:
    """Makes each producer's file on first use, once per test session, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.RLock()
        self._made: dict[str, Path] = {}
        self.timings: dict[str, float] = {}

    def path(self, name: str) -> Path:
        """The producer's PDF, made now if it was not yet."""
        with self._lock:
            if name not in self._made:
                started = time.monotonic()
                self._made[name] = self._make(name)
                self.timings[name] = time.monotonic() - started
            return self._made[name]

    def all(self) -> dict[str, Path]:
        """Every producer's PDF (makes the missing ones)."""
        return {producer.name: self.path(producer.name) for producer in PRODUCERS}

    # The two LibreOffice files are made together: one soffice start for both.
    def _libreoffice(self) -> None:
        sources = []
        for name, font in (
            ("libreoffice", FONT),
            ("libreoffice-fallback", FONT_WITHOUT_VIETNAMESE),
        ):
            source = self.directory / f"{name}.fodt"
            source.write_text(fodt(font), encoding="utf-8")
            sources.append(source)
        outdir = self.directory / "soffice-out"
        outdir.mkdir(exist_ok=True)
        profile = self.directory / "soffice-profile"
        for source, pdf in zip(sources, libreoffice_convert(sources, outdir, profile), strict=True):
            self._made[source.stem] = pdf.rename(self.directory / f"{source.stem}.pdf")

    def _make(self, name: str) -> Path:
        if name not in BY_NAME:
            raise KeyError(name)
        out = self.directory / f"{name}.pdf"
        makers: dict[str, Callable[[], None]] = {
            "chromium": lambda: self._chromium(out),
            "ghostscript": lambda: ghostscript_rewrite(self.path("libreoffice"), out),
            "qpdf-object-streams": lambda: qpdf(
                self.path("libreoffice"), out, "--object-streams=generate"
            ),
            "qpdf-linearized": lambda: qpdf(self.path("libreoffice"), out, "--linearize"),
            "qpdf-pdf20": lambda: qpdf(self.path("libreoffice"), out, "--force-version=2.0"),
            "qpdf-encrypted": lambda: qpdf(
                self.path("libreoffice"), out, "--encrypt", "", OWNER_PASSWORD, "256", "--"
            ),
            "hybrid": lambda: make_hybrid_file(self.path("libreoffice"), out),
            "scan": lambda: scan(self.path("libreoffice"), out, self.directory),
        }
        if name in ("libreoffice", "libreoffice-fallback"):
            self._libreoffice()
            return self._made[name]
        if name.startswith("sample-"):
            stem = name.removeprefix("sample-").removesuffix("-object-streams")
            qpdf(DATA_DIR / f"{stem}.pdf", out, "--object-streams=generate")
            return out
        makers[name]()
        return out

    def _chromium(self, out: Path) -> None:
        source = self.directory / "chromium.html"
        source.write_text(html_letter(), encoding="utf-8")
        chromium_print(source, out, self.directory / "chromium-profile")


# --- reading a producer's page with poppler, independently of the code under test ----------


@dataclass(frozen=True)
class Word:
    """A word's box in PDF points, origin bottom left (pdftotext -bbox gives top-left)."""

    text: str
    x1: float
    y1: float
    x2: float
    y2: float


def words(pdf: Path, page: int = 1) -> list[Word]:
    """Every word of a page with its box, read by poppler's pdftotext -bbox."""
    import xml.etree.ElementTree as ET

    out = run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"])
    root = ET.fromstring(out)
    found: list[Word] = []
    for page_element in root.iter("{http://www.w3.org/1999/xhtml}page"):
        height = float(page_element.attrib["height"])
        for word in page_element.iter("{http://www.w3.org/1999/xhtml}word"):
            x1, y1 = float(word.attrib["xMin"]), float(word.attrib["yMin"])
            x2, y2 = float(word.attrib["xMax"]), float(word.attrib["yMax"])
            found.append(Word(word.text or "", x1, height - y2, x2, height - y1))
    return found


def page_text(pdf: Path, page: int = 1) -> str:
    """One page's text in layout mode, whitespace collapsed to single spaces."""
    out = run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"])
    return " ".join(out.split())


def fonts(pdf: Path) -> list[str]:
    """Base font names pdffonts lists for the file."""
    lines = run(["pdffonts", str(pdf)]).splitlines()[2:]
    return [line.split()[0] for line in lines if line.strip()]


def render_gray(pdf: Path, out_prefix: Path, dpi: int = 100, page: int = 1) -> Path:
    """Page rendered in grey by pdftoppm (a PGM greymap); returns its path."""
    run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-gray",
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(pdf),
            str(out_prefix),
        ]
    )
    return out_prefix.with_name(out_prefix.name + ".pgm")


def environment_ok() -> None:
    """Fail loudly when a producer program is missing (never skip)."""
    for tool in ("soffice", "chromium", "gs", "qpdf", "img2pdf", "pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            raise ProducerError(f"{tool} is missing: run .ci/setup (Debian packages)")


# --- blanks and signature place measured with poppler, for a scan that has no text ------------


def _line_of(found: list[Word], first: str, near: Word | None = None) -> list[Word]:
    """The words standing on the same line as the first word reading ``first`` (near ``near``)."""
    candidates = [word for word in found if word.text == first]
    if near is not None:
        candidates = [word for word in candidates if abs(word.y1 - near.y1) < 3]
    if not candidates:
        raise ProducerError(f"no word {first!r} on the page")
    anchor = candidates[0]
    return sorted((w for w in found if abs(w.y1 - anchor.y1) < 3), key=lambda w: w.x1)


def _after(line: list[Word], text: str, start: float = 0.0) -> Word:
    for word in line:
        if word.text == text and word.x1 >= start:
            return word
    raise ProducerError(f"no word {text!r} on the line {[w.text for w in line]}")


def _box(left: Word, right: Word) -> tuple[float, float, float, float]:
    """The gap between two words, as tall as the words' own line, 1.5 pt from each word."""
    return left.x2 + 1.5, left.y1, right.x1 - 1.5, min(left.y2, left.y1 + 24.0)


def measured_blanks(pdf: Path) -> IssueBlanks:
    """Where the letter leaves number, day and month blank, measured on ``pdf``'s words.

    The scan is an image of the LibreOffice page on the same A4 page, so the boxes measured on
    the LibreOffice file are the blanks of the scan.
    """
    from signer.issuing.blanks import Blank, IssueBlanks

    found = words(pdf)
    number_line = _line_of(found, "Số:")
    said, notation = _after(number_line, "Số:"), _after(number_line, NOTATION)
    date_words = _line_of(found, "ngày", near=said)
    day, month = _after(date_words, "ngày"), _after(date_words, "tháng")
    year = _after(date_words, "năm", start=month.x2)
    return IssueBlanks(
        page=0,
        number=Blank(*_box(said, notation), font_size=13.0),
        day=Blank(*_box(day, month), font_size=14.0),
        month=Blank(*_box(month, year), font_size=14.0),
        year=2026,
    )


def measured_signature_place(pdf: Path) -> Placement:
    """The gap between "PHÓ CHỦ TỊCH" and the signer's name, measured on ``pdf``'s words."""
    from signer.appearance import Placement

    found = words(pdf)
    title = _line_of(found, "PHÓ")
    name = [w for w in _line_of(found, SIGNER_NAME.split()[-1]) if w.y1 < title[0].y1]
    left = min(w.x1 for w in title + name) - 30
    right = max(w.x2 for w in title + name) + 30
    bottom, top = max(w.y2 for w in name) + 2, min(w.y1 for w in title) - 2
    return Placement(page=0, x=left, y=bottom, width=right - left, height=top - bottom)
