"""PAdES signing (B-B, B-T, B-LT, B-LTA) of PDF files, file to file with bounded memory.

The parts two-step signing (remote.py) shares with it are in signer/pades.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfSigner
from pyhanko_certvalidator import ValidationContext

from signer.encryption import decrypt_unsigned
from signer.errors import EncryptedPdfError, UnreadablePdfError
from signer.files import atomic_output, existing_mode
from signer.keys import Credential
from signer.pades import (
    CHUNK_SIZE,
    DEFAULT_OPTIONS,
    DocMdp,
    Level,
    SigningStep,
    SignOptions,
    SignResult,
    check_options,
    copy_hashing,
    embed_validation_info,
    free_field_name,
    hash_rest,
    open_writer,
    opened_source,
    revocation_context,
    signature_bytes_reserved,
    signature_metadata,
    signing_errors,
    timestamp_service,
    visible_signature,
)

__all__ = [
    "BeforeSigning",
    "DocMdp",
    "Level",
    "SignOptions",
    "SignResult",
    "sign_pdf",
    "signature_bytes_reserved",
]

BeforeSigning = Callable[[IncrementalPdfFileWriter], None]


def _open_decrypted(work: IO[bytes]) -> tuple[IncrementalPdfFileWriter, bytes]:
    """The writer for an encrypted input that has no signature, rewritten unencrypted in place.

    An incremental update cannot remove encryption, and a signature inside an encrypted file
    ties every later step to it; a file with no signature loses nothing by being rewritten
    whole (signer/encryption.py). Password-protected or signed files are refused there.
    """
    work.seek(0)
    plain = decrypt_unsigned(work.read())
    work.seek(0)
    work.truncate()
    work.write(plain)
    work.flush()
    return open_writer(work), plain


async def _embed_earlier_validation_info(work: IO[bytes], context: ValidationContext) -> None:
    """Add revocation data for the signatures already in the document to its DSS.

    A B-LT document must be verifiable long-term as a whole: when the agency signs after the
    official, the official's certificate status is captured now too, not only the agency's.
    Each signature gets its own small incremental update (DSS changes are permitted additions).
    """
    work.seek(0)
    count = len(PdfFileReader(work, strict=True).embedded_regular_signatures)
    for index in range(count):
        await embed_validation_info(work, context, index)


async def _run_signer(
    pdf_signer: PdfSigner,
    writer: IncrementalPdfFileWriter,
    work: IO[bytes],
    bytes_reserved: int,
    context: ValidationContext | None,
    before_signing: BeforeSigning | None,
) -> None:
    try:
        if context is not None and writer.prev.embedded_regular_signatures:
            await _embed_earlier_validation_info(work, context)
            writer = open_writer(work)
        if before_signing is not None:
            before_signing(writer)
        await pdf_signer.async_sign_pdf(
            writer, bytes_reserved=bytes_reserved, in_place=True, chunk_size=CHUNK_SIZE
        )
    finally:
        if context is not None:
            await context.aclose()  # type: ignore[no-untyped-call]


def _sign_into(
    source: IO[bytes],
    work: IO[bytes],
    credential: Credential,
    options: SignOptions,
    level: Level,
    before_signing: BeforeSigning | None,
) -> SignResult:
    """Copy ``source`` into ``work`` (hashing it), then append the signature in place."""
    digest = hashlib.sha256()
    original_size = copy_hashing(source, work, digest)
    if original_size == 0:
        raise UnreadablePdfError("tệp đầu vào rỗng")
    try:
        writer = open_writer(work)
    except EncryptedPdfError:
        writer, plain = _open_decrypted(work)
        digest, original_size = hashlib.sha256(plain), len(plain)
    field_name = options.field_name or free_field_name(writer)
    stamp_style, field_spec = visible_signature(writer, work, field_name, credential, options)

    development, dev_services = options.development, options.dev_services
    context = None
    if level.needs_revocation_data:
        context = revocation_context(
            options.trust_roots, development=development, dev_services=dev_services
        )
    metadata = signature_metadata(options, field_name, credential.common_name, context)
    tsa_url, timestamper = timestamp_service(
        level, options.tsa_url, development=development, dev_services=dev_services
    )
    pdf_signer = PdfSigner(
        metadata,
        credential.signer,
        timestamper=timestamper,
        stamp_style=stamp_style,
        new_field_spec=field_spec,
    )
    reserved = signature_bytes_reserved(credential, level)
    with signing_errors(SigningStep.SIGN, tsa_url):
        asyncio.run(_run_signer(pdf_signer, writer, work, reserved, context, before_signing))

    # Incremental updates only append, so the input's hash state extends to the whole output.
    work.seek(original_size)
    size = original_size + hash_rest(work, digest)
    return SignResult(
        field_name=field_name, level=level, digest_sha256=digest.hexdigest(), size=size
    )


def sign_pdf(
    source: str | os.PathLike[str] | BinaryIO,
    output: str | os.PathLike[str] | BinaryIO,
    credential: Credential,
    options: SignOptions = DEFAULT_OPTIONS,
    *,
    before_signing: BeforeSigning | None = None,
) -> SignResult:
    """Sign ``source`` into ``output``; nothing is written to ``output`` unless signing succeeds.

    ``before_signing`` may change the document in the same revision as the signature, which
    then covers the change (the issue workflow fills the number and date this way).
    """
    level = check_options(options)
    with opened_source(source) as stream:
        if not isinstance(output, str | os.PathLike):
            with tempfile.TemporaryFile() as work:
                result = _sign_into(stream, work, credential, options, level, before_signing)
                work.seek(0)
                shutil.copyfileobj(work, output, CHUNK_SIZE)
            return result
        # A signed document keeps the mode of the file it replaces, or the usual 0644.
        target = Path(output)
        with atomic_output(target, mode=existing_mode(target)) as work:
            return _sign_into(stream, work, credential, options, level, before_signing)
