"""Forgery builders for the verifier tests: plain functions from PDF bytes to forged PDF bytes.

They use pyHanko's public writer API (what an attacker would use) or write raw PDF syntax where the
attack lives below the object level (cross-reference sections, /ByteRange, /Contents). None of them
uses congvan's signer, so a bug there cannot hide a forgery here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms, crl, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm

from signer.devpki import DevServices

RESERVED = 16384  # bytes kept for /Contents, so a doubled SignerInfo still fits


# --- keys and signing ---------------------------------------------------------------------------


def load_p12_signer(path: Path, passphrase: str) -> signers.SimpleSigner:
    """A pyHanko signer from a PKCS#12 file."""
    signer = signers.SimpleSigner.load_pkcs12(str(path), passphrase=passphrase.encode())
    assert signer is not None, f"cannot load {path}"
    return signer


def make_self_signed_signer(directory: Path, subject_like: Path) -> signers.SimpleSigner:
    """A signer whose self-signed certificate copies the subject of a real certificate."""
    real = x509.load_pem_x509_certificate(subject_like.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "self-signed.key.pem", directory / "self-signed.cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return signers.SimpleSigner.load(str(key_path), str(cert_path))


def sign(
    pdf: bytes,
    signer: signers.Signer,
    *,
    field: str = "Signature1",
    certify: bool = False,
    docmdp: MDPPerm | None = None,
    strict: bool = True,
) -> bytes:
    """Sign (approval, or certification with a DocMDP level) with plain pyHanko.

    ``strict=False`` is how pyHanko signs hybrid-reference files, which it refuses when strict.
    """
    meta = signers.PdfSignatureMetadata(
        field_name=field, certify=certify, docmdp_permissions=docmdp or MDPPerm.FILL_FORMS
    )
    out = io.BytesIO()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=strict)
    signers.sign_pdf(writer, meta, signer=signer, output=out, bytes_reserved=RESERVED)
    return out.getvalue()


def sign_b_lta(
    pdf: bytes,
    signer: signers.Signer,
    tsa_url: str,
    roots: Sequence[asn1_x509.Certificate],
    dev: DevServices,
) -> bytes:
    """Sign at PAdES B-LTA with pyHanko itself: timestamp, revocation data, document timestamp.

    Requests for the development services go to `dev`, where the run's services are
    (tests/support/devservices.py).
    """
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from tests.support.devservices import fetching_context

    context = fetching_context(roots, dev)
    tsa_url = dev.relocate(tsa_url)
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1",
        subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=True,
        use_pades_lta=True,
        validation_context=context,
    )
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False),
        meta,
        signer=signer,
        timestamper=HTTPTimeStamper(tsa_url),
        output=out,
    )
    return out.getvalue()


# --- reading the raw structure --------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureSpan:
    """Where one signature's /ByteRange array and /Contents hex string sit in the file."""

    byte_range: tuple[int, int, int, int]
    byte_range_at: tuple[int, int]  # offsets of the array and the spaces padding it
    contents_at: tuple[int, int]  # offsets of the hex digits, without '<' and '>'


def signature_spans(pdf: bytes) -> list[SignatureSpan]:
    """Every signature's /ByteRange and /Contents, paired in file order (even once tampered)."""
    ranges = re.finditer(rb"/ByteRange\s*(\[([^\]]*)\] *)", pdf)
    contents = re.finditer(rb"/Contents\s*<([0-9A-Fa-f]{256,})>", pdf)
    spans = []
    for byte_range, content in zip(ranges, contents, strict=True):
        numbers = tuple(int(n) for n in byte_range.group(2).split())
        spans.append(
            SignatureSpan(
                byte_range=numbers,  # type: ignore[arg-type]
                byte_range_at=(byte_range.start(1), byte_range.end(1)),
                contents_at=(content.start(1), content.end(1)),
            )
        )
    return spans


def last_span(pdf: bytes) -> SignatureSpan:
    """The span of the last signature in the file."""
    return signature_spans(pdf)[-1]


def signed_cms(pdf: bytes) -> cms.ContentInfo:
    """The CMS object of the last signature."""
    start, end = last_span(pdf).contents_at
    return cms.ContentInfo.load(bytes.fromhex(pdf[start:end].decode()), strict=False)


def _trailer_facts(pdf: bytes) -> tuple[int, int, bytes]:
    """Last startxref, /Size and the trailer entries to carry over (/Root, /Info, /ID)."""
    startxref = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    reader = PdfFileReader(io.BytesIO(pdf))
    trailer = reader.trailer
    size = int(trailer["/Size"])
    carried = io.BytesIO()
    for key in ("/Root", "/Info", "/ID"):
        if key in trailer:
            carried.write(key.encode() + b" ")
            trailer.raw_get(key).write_to_stream(carried)
            carried.write(b" ")
    return startxref, size, carried.getvalue()


def append_raw_revision(
    pdf: bytes,
    objects: dict[int, bytes],
    *,
    redirect: dict[int, int] | None = None,
    xref_body: bytes | None = None,
    unlisted: bytes = b"",
) -> tuple[bytes, dict[int, int]]:
    """Append an incremental update written by hand; return the file and each object's offset.

    ``redirect`` adds xref entries pointing at offsets already in the file, ``xref_body`` replaces
    the whole xref section, ``unlisted`` is bytes placed before the objects and listed nowhere.
    """
    startxref, size, carried = _trailer_facts(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    unlisted_at = len(out)
    out += unlisted
    offsets: dict[int, int] = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    entries = dict(offsets) | dict(redirect or {})
    xref_at = len(out)
    if xref_body is None:
        xref = b"xref\n0 1\n0000000000 65535 f \n"
        for number in sorted(entries):
            xref += b"%d 1\n%010d 00000 n \n" % (number, entries[number])
    else:
        xref = xref_body
    new_size = max([size, *(n + 1 for n in entries)])
    out += xref + b"trailer\n<< /Size %d /Prev %d %s>>\n" % (new_size, startxref, carried)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    offsets[-1] = unlisted_at
    return bytes(out), offsets


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(pdf))


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _first_page(
    writer: IncrementalPdfFileWriter,
) -> tuple[generic.IndirectObject, generic.DictionaryObject]:
    ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    return ref, ref.get_object()


def _stream(data: bytes) -> generic.StreamObject:
    return generic.StreamObject(stream_data=data)


FORGED_TEXT = b"BT /FShadow 28 Tf 72 420 Td (SO TIEN: 900.000.000 DONG) Tj ET"
COVER = b"q 1 1 1 rg 60 400 470 60 re f Q "


# --- preparation before signing (what a forger plants in the document he asks someone to sign) --


def add_text_field(
    pdf: bytes,
    name: str = "SoTien",
    value: str = "100.000 dong",
    *,
    rect: tuple[float, float, float, float] = (72, 380, 300, 400),
    flags: int = 4,
    field_flags: int = 0,
) -> bytes:
    """Add a text field (filled unless ``value`` is empty) with its appearance on page 1."""
    w = _writer(pdf)
    page_ref, page = _first_page(w)
    helv = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    field = generic.DictionaryObject(
        {
            pdf_name("/FT"): pdf_name("/Tx"),
            pdf_name("/T"): pdf_string(name),
            pdf_name("/V"): pdf_string(value),
            pdf_name("/DA"): pdf_string("/Helv 12 Tf 0 g"),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/F"): generic.NumberObject(flags),
            pdf_name("/Ff"): generic.NumberObject(field_flags),
            pdf_name("/P"): page_ref,
            pdf_name("/Rect"): generic.ArrayObject(map(generic.FloatObject, rect)),
            pdf_name("/AP"): generic.DictionaryObject(
                {pdf_name("/N"): w.add_object(_text_appearance(helv, value))}
            ),
        }
    )
    field_ref = w.add_object(field)
    annots = page.get("/Annots")
    if annots is None:
        page[pdf_name("/Annots")] = generic.ArrayObject([field_ref])
        w.update_container(page)
    else:
        annots.get_object().append(field_ref)
        w.update_container(annots)
    form = w.root.get("/AcroForm")
    if form is None:
        w.root[pdf_name("/AcroForm")] = generic.DictionaryObject(
            {
                pdf_name("/Fields"): generic.ArrayObject([field_ref]),
                pdf_name("/DR"): generic.DictionaryObject(
                    {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/Helv"): helv})}
                ),
            }
        )
        w.update_root()
    else:
        form = form.get_object()
        form["/Fields"].append(field_ref)
        w.update_container(form["/Fields"])
    return _written(w)


def _text_appearance(font: generic.IndirectObject, value: str) -> generic.StreamObject:
    stream = _stream(b"/Tx BMC BT /Helv 12 Tf 2 5 Td (%s) Tj ET EMC" % value.encode("latin-1"))
    stream[pdf_name("/Type")] = pdf_name("/XObject")
    stream[pdf_name("/Subtype")] = pdf_name("/Form")
    stream[pdf_name("/BBox")] = generic.ArrayObject(map(generic.NumberObject, (0, 0, 228, 20)))
    stream[pdf_name("/Resources")] = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/Helv"): font})}
    )
    return stream


def add_signature_fields(pdf: bytes, *names: str) -> bytes:
    """Add empty signature fields, so that later signers fill their own field."""
    w = _writer(pdf)
    for name in names:
        fields.append_signature_field(w, fields.SigFieldSpec(sig_field_name=name, on_page=0))
    return _written(w)


@dataclass(frozen=True)
class PlantedDocument:
    """A document prepared for a shadow attack, and the object numbers the attack will use."""

    pdf: bytes
    overlay: int  # a content stream drawing the forged text, referenced by nothing
    shadow_font: int  # a font object referenced by nothing
    shadow_page_at: int  # file offset of a second, unlisted definition of page 1's object
    page: int  # page 1's object number


def plant_shadow_objects(pdf: bytes) -> PlantedDocument:
    """Plant, before signing, the objects a shadow attack later switches on by reference only."""
    reader = PdfFileReader(io.BytesIO(pdf))
    page_ref = reader.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    _, size, _ = _trailer_facts(pdf)
    overlay, font, resources = size, size + 1, size + 2
    page_text = io.BytesIO()
    shadow_page = generic.DictionaryObject(page)
    shadow_page[pdf_name("/Contents")] = generic.ArrayObject(
        [page.raw_get("/Contents"), generic.IndirectObject(overlay, 0, reader)]
    )
    shadow_page[pdf_name("/Resources")] = generic.IndirectObject(resources, 0, reader)
    shadow_page.write_to_stream(page_text)
    old_resources = page.raw_get("/Resources").get_object()
    old_fonts = old_resources["/Font"]
    font_entries = b" ".join(
        key.encode() + b" %d 0 R" % old_fonts.raw_get(key).idnum for key in old_fonts
    )
    # The unlisted page sits inside a comment-free gap the xref never points at.
    unlisted = b"%d 0 obj\n%s\nendobj\n" % (page_ref.idnum, page_text.getvalue())
    objects = {
        overlay: b"<< /Length %d >>\nstream\n%s\nendstream"
        % (len(COVER + FORGED_TEXT), COVER + FORGED_TEXT),
        font: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
        resources: b"<< /Font << %s /FShadow %d 0 R >> /ProcSet [/PDF /Text] >>"
        % (font_entries, font),
    }
    planted, offsets = append_raw_revision(pdf, objects, unlisted=unlisted)
    return PlantedDocument(planted, overlay, font, offsets[-1], page_ref.idnum)


# --- attacks after signing ------------------------------------------------------------------------


def flip_byte(pdf: bytes, offset: int) -> bytes:
    """Flip the low bit of one byte."""
    data = bytearray(pdf)
    data[offset] ^= 0x01
    return bytes(data)


def flip_in_content_stream(pdf: bytes) -> bytes:
    """Flip one byte of page 1's content stream, inside the signed range."""
    page_content = re.search(rb"\n2 0 obj\b", pdf)
    assert page_content is not None
    start = pdf.index(b"stream", page_content.end()) + len(b"stream\n") + 40
    assert start < last_span(pdf).byte_range[1]
    return flip_byte(pdf, start)


def flip_in_signature_value(pdf: bytes) -> bytes:
    """Flip one bit of the signature value inside /Contents (the DER stays well-formed)."""
    info = signed_cms(pdf)["content"]["signer_infos"][0]
    value = info["signature"].native.hex().encode()
    start, end = last_span(pdf).contents_at
    at = pdf.lower().index(value, start, end) + len(value) // 2
    swapped = b"0" if pdf[at : at + 1] != b"0" else b"1"
    return pdf[:at] + swapped + pdf[at + 1 :]


def replace_page_content(pdf: bytes) -> bytes:
    """Incremental saving attack: a new content stream becomes page 1's /Contents."""
    w = _writer(pdf)
    _, page = _first_page(w)
    page[pdf_name("/Contents")] = w.add_object(
        _stream(b"BT /F1 24 Tf 72 700 Td (Quyet dinh bi sua) Tj ET")
    )
    w.update_container(page)
    return _written(w)


def add_page(pdf: bytes) -> bytes:
    """Incremental saving attack on the page tree: a forged page appended to /Pages."""
    w = _writer(pdf)
    pages = w.root["/Pages"]
    new_page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/Parent"): w.root.raw_get("/Pages"),
            pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
            pdf_name("/Contents"): w.add_object(
                _stream(b"BT /F1 24 Tf 72 700 Td (Phu luc gia) Tj ET")
            ),
            pdf_name("/Resources"): pages.raw_get("/Resources"),
        }
    )
    pages["/Kids"].append(w.add_object(new_page))
    pages[pdf_name("/Count")] = generic.NumberObject(len(pages["/Kids"]))
    w.update_container(pages)
    return _written(w)


def reveal_overlay(pdf: bytes, planted: PlantedDocument) -> bytes:
    """Shadow "hide": page 1 now also draws the planted overlay; only references change."""
    w = _writer(pdf)
    _, page = _first_page(w)
    original = page.raw_get("/Contents")
    page[pdf_name("/Contents")] = generic.ArrayObject(
        [original, generic.IndirectObject(planted.overlay, 0, w)]
    )
    page[pdf_name("/Resources")] = generic.IndirectObject(planted.overlay + 2, 0, w)
    w.update_container(page)
    return _written(w)


def redefine_page_via_xref(pdf: bytes, planted: PlantedDocument) -> bytes:
    """Shadow "hide-and-replace": an update holding only an xref that points page 1 at the
    planted, signed-but-unlisted second definition; not one new object."""
    forged, _ = append_raw_revision(pdf, {}, redirect={planted.page: planted.shadow_page_at})
    return forged


def swap_font(pdf: bytes, planted: PlantedDocument) -> bytes:
    """Shadow "replace": font /F1 of the page resources now points at the planted font."""
    w = _writer(pdf)
    _, page = _first_page(w)
    font_dict = page["/Resources"]["/Font"]
    font_dict[pdf_name("/F1")] = generic.IndirectObject(planted.shadow_font, 0, w)
    w.update_container(font_dict)
    return _written(w)


def fill_text_field(
    pdf: bytes,
    name: str = "SoTien",
    value: str = "900.000.000 dong",
    *,
    rect: tuple[float, float, float, float] | None = None,
    flags: int | None = None,
) -> bytes:
    """Shadow "replace" on a form: the field's value and appearance changed after signing.

    Filling a blank field is what any form-filling tool does; ``rect`` also moves the widget,
    ``flags`` sets its annotation flags (e.g. 4 to show a hidden one).
    """
    w = _writer(pdf)
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field["/T"] == name:
            field[pdf_name("/V")] = pdf_string(value)
            if rect is not None:
                field[pdf_name("/Rect")] = generic.ArrayObject(map(generic.FloatObject, rect))
            if flags is not None:
                field[pdf_name("/F")] = generic.NumberObject(flags)
            font = field["/AP"]["/N"]["/Resources"]["/Font"].raw_get("/Helv")
            field["/AP"] = generic.DictionaryObject(
                {pdf_name("/N"): w.add_object(_text_appearance(font, value))}
            )
            w.mark_update(ref)
            return _written(w)
    raise LookupError(name)


def add_annotation(pdf: bytes, subtype: str = "/FreeText") -> bytes:
    """Overlay annotation: a FreeText or Stamp annotation that paints over page 1."""
    w = _writer(pdf)
    page_ref, page = _first_page(w)
    appearance = _stream(COVER + b"BT /F1 20 Tf 72 420 Td (DA HUY) Tj ET")
    appearance[pdf_name("/Type")] = pdf_name("/XObject")
    appearance[pdf_name("/Subtype")] = pdf_name("/Form")
    appearance[pdf_name("/BBox")] = generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842)))
    annot = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name(subtype),
            pdf_name("/Rect"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
            pdf_name("/Contents"): pdf_string("DA HUY"),
            pdf_name("/DA"): pdf_string("/Helv 20 Tf 1 0 0 rg"),
            pdf_name("/P"): page_ref,
            pdf_name("/F"): generic.NumberObject(4),
            pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): w.add_object(appearance)}),
        }
    )
    annots = page.get("/Annots")
    ref = w.add_object(annot)
    if annots is None:
        page[pdf_name("/Annots")] = generic.ArrayObject([ref])
        w.update_container(page)
    else:
        annots.get_object().append(ref)
        w.update_container(annots)
    return _written(w)


def add_sneaky_signature_field(pdf: bytes) -> bytes:
    """Sneaky signature: a new, never-signed signature field whose widget paints over page 1."""
    w = _writer(pdf)
    page_ref, page = _first_page(w)
    appearance = _stream(COVER + b"BT /F1 20 Tf 72 420 Td (DA DUYET - KY SO) Tj ET")
    appearance[pdf_name("/Type")] = pdf_name("/XObject")
    appearance[pdf_name("/Subtype")] = pdf_name("/Form")
    appearance[pdf_name("/BBox")] = generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842)))
    field_ref = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/FT"): pdf_name("/Sig"),
                pdf_name("/T"): pdf_string("Sneaky"),
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Widget"),
                pdf_name("/F"): generic.NumberObject(4),
                pdf_name("/P"): page_ref,
                pdf_name("/Rect"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
                pdf_name("/AP"): generic.DictionaryObject(
                    {pdf_name("/N"): w.add_object(appearance)}
                ),
            }
        )
    )
    annots = page.get("/Annots")
    if annots is None:
        page[pdf_name("/Annots")] = generic.ArrayObject([field_ref])
        w.update_container(page)
    else:
        annots.get_object().append(field_ref)
        w.update_container(annots)
    form = w.root["/AcroForm"]
    form["/Fields"].append(field_ref)
    w.update_container(form["/Fields"])
    return _written(w)


def append_empty_xref_update(pdf: bytes, *, no_subsection: bool = False) -> bytes:
    """An update made of an xref section with no entries (optionally not even a subsection)."""
    body = b"xref\n" if no_subsection else b"xref\n0 0\n"
    return append_raw_revision(pdf, {}, xref_body=body)[0]


def append_broken_xref_update(pdf: bytes) -> bytes:
    """An update whose xref section is broken: garbled entries pointing nowhere."""
    body = b"xref\n0 2\n0000000000 65535 f \n99999999x9 0000 q \n"
    return append_raw_revision(pdf, {}, xref_body=body)[0]


def append_trailing_garbage(pdf: bytes) -> bytes:
    """Bytes after the signed revision's %%EOF."""
    return pdf + b"\n% not part of any revision\n" + secrets.token_bytes(64)


def append_whole_pdf(pdf: bytes, other: bytes, *, rebase: bool = False) -> bytes:
    """A second complete PDF glued after the signed one; ``rebase`` fixes its offsets so the
    combined file reads as the other document (a one-revision PDF with a classic xref)."""
    glued = pdf + b"\n"
    if not rebase:
        return glued + other
    base = len(glued)
    xref_at = int(re.findall(rb"startxref\s+(\d+)", other)[-1])

    def shift(match: re.Match[bytes]) -> bytes:
        return b"%010d %s n" % (int(match.group(1)) + base, match.group(2))

    head, table = other[:xref_at], other[xref_at:]
    table = re.sub(rb"(\d{10}) (\d{5}) n", shift, table)
    table = re.sub(rb"startxref\s+\d+", b"startxref\n%d" % (xref_at + base), table)
    return glued + head + table


def set_byte_range(pdf: bytes, text: str) -> bytes:
    """Overwrite the last /ByteRange array in place, padded to the same length."""
    span = last_span(pdf)
    start, end = span.byte_range_at
    new = b"[%s]" % text.encode()
    new = new.ljust(end - start)
    assert len(new) == end - start, "byte range text too long"
    return pdf[:start] + new + pdf[end:]


def set_contents(pdf: bytes, der: bytes) -> bytes:
    """Overwrite the last /Contents with this DER, zero-padded to the same length."""
    start, end = last_span(pdf).contents_at
    new = der.hex().upper().encode().ljust(end - start, b"0")
    assert len(new) == end - start, "CMS too large for the placeholder"
    return pdf[:start] + new + pdf[end:]


def resign_over(pdf: bytes, byte_range: tuple[int, int, int, int], signer: signers.Signer) -> bytes:
    """Declare another /ByteRange and make a genuine CMS signature over exactly those bytes."""
    forged = set_byte_range(pdf, " ".join(str(n) for n in byte_range))
    a, b, c, d = byte_range
    digest = hashlib.sha256(forged[a : a + b] + forged[c : c + d]).digest()
    content = asyncio.run(signer.async_sign(digest, "sha256", use_pades=True))
    return set_contents(forged, content.dump())


def duplicate_signer_info(pdf: bytes) -> bytes:
    """A CMS holding two SignerInfos: the genuine one and a copy."""
    content = signed_cms(pdf)
    infos = content["content"]["signer_infos"]
    doubled = cms.SignerInfos([infos[0], infos[0].copy()])
    content["content"]["signer_infos"] = doubled
    return set_contents(pdf, content.dump(force=True))


def random_der() -> bytes:
    """A well-formed DER SEQUENCE of random bytes that is no CMS object."""
    body = b"\x04\x82\x01\x00" + secrets.token_bytes(256)
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


def transplant_contents(pdf: bytes, donor: bytes) -> bytes:
    """Put into /Contents a genuine signature that was made over a different document."""
    start, end = last_span(donor).contents_at
    return set_contents(pdf, bytes.fromhex(donor[start:end].decode()).rstrip(b"\x00"))


# --- malformed inputs -----------------------------------------------------------------------------


def minimal_pdf(objects: dict[int, bytes], *, root: int = 1, extra_trailer: bytes = b"") -> bytes:
    """A classic one-revision PDF built from raw object bodies."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets.get(number, 0)
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (size, root, extra_trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def nested_arrays_pdf(depth: int = 100_000) -> bytes:
    """A catalog holding an array nested ``depth`` levels deep."""
    nested = b"[" * depth + b"]" * depth
    return minimal_pdf({1: b"<< /Type /Catalog /Pages 2 0 R /Nest %s >>" % nested, **_one_page()})


def kids_cycle_pdf() -> bytes:
    """A page tree whose /Kids contains its own /Pages node."""
    return minimal_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        }
    )


def prev_loop_pdf() -> bytes:
    """Two xref sections whose /Prev entries point at each other."""
    base = minimal_pdf(
        {1: b"<< /Type /Catalog /Pages 2 0 R >>", **_one_page()}, extra_trailer=b"/Prev PREVPREVPR "
    )
    first_xref = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    second_xref = len(base)
    looped = base.replace(b"PREVPREVPR", b"%010d" % second_xref)
    tail = b"xref\n0 1\n0000000000 65535 f \n"
    tail += b"trailer\n<< /Size 4 /Root 1 0 R /Prev %d >>\n" % first_xref
    return looped + tail + b"startxref\n%d\n%%%%EOF\n" % second_xref


def _one_page() -> dict[int, bytes]:
    return {
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    }


PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def load_crl(path: Path) -> crl.CertificateList:
    """A DER or PEM CRL, as pyHanko's DSS writer wants it."""
    data = path.read_bytes()
    if pem.detect(data):
        data = pem.unarmor(data)[2]
    return crl.CertificateList.load(data)
