"""Verify PDF signatures with a strict verdict: `verify_pdf` and its report types."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Coroutine
from dataclasses import replace
from datetime import datetime
from os import PathLike, fspath
from typing import Any, BinaryIO, TypeVar

from pyhanko.pdf_utils.reader import PdfFileReader

from signer.errors import UnreadablePdfError
from signer.hybrid import admit_hybrid
from signer.messages import TOO_DEEP
from signer.trust import TrustSettings
from signer.verification.deadline import call_with_time_limit
from signer.verification.engine import (
    Outcome,
    VerificationContext,
    list_signatures,
    read_dss,
    validate_one,
)
from signer.verification.issue_fields import misplaced_issue_field
from signer.verification.judgement import Judgement, judge
from signer.verification.model import SignatureReport, SignerInfo, Verdict, VerificationReport
from signer.verification.speedups import install as _install_speedups
from signer.verification.structure import (
    open_reader,
    revision_problems,
    signed_prefix,
    stream_size,
    tail_problem,
)
from signer.verification.timeline import check_revocations

Source = str | PathLike[str] | bytes | BinaryIO
T = TypeVar("T")

_install_speedups()

__all__ = [
    "SignatureReport",
    "SignerInfo",
    "Verdict",
    "VerificationReport",
    "verify_pdf",
]


def verify_pdf(
    source: Source,
    *,
    trust: TrustSettings,
    offline: bool = False,
    timeout: float | None = 30.0,
    now: datetime | None = None,
) -> VerificationReport:
    """Verify every signature in a PDF; raises only for unreadable input or the time limit."""
    stream: BinaryIO
    if isinstance(source, bytes | bytearray | memoryview):
        name, stream, owned = "<bytes>", io.BytesIO(bytes(source)), False
    elif isinstance(source, str | PathLike):
        name = fspath(source)
        stream, owned = open(name, "rb"), True  # noqa: SIM115 - closed below
    else:
        name, stream, owned = str(getattr(source, "name", "<stream>")), source, False
        if not stream.seekable():
            stream = io.BytesIO(stream.read())
    try:
        context = VerificationContext(
            trust=trust,
            offline=offline,
            timeout=timeout,
            now=now,
            stream=stream,
            size=stream_size(stream),
        )
        return call_with_time_limit(
            lambda: _verify_stream(name, context), timeout, "kiểm tra chữ ký"
        )
    finally:
        if owned:
            stream.close()


def _verify_stream(name: str, context: VerificationContext) -> VerificationReport:
    stream, size = context.stream, context.size
    document_problems: list[str] = []
    try:
        reader = open_reader(stream)
    except UnreadablePdfError:
        # A readable signed revision followed by a broken update is a forgery attempt to judge,
        # not an unreadable file: verify the readable part and fail the document.
        cut = signed_prefix(stream, size)
        if cut is None:
            raise
        stream.seek(0)
        context = replace(context, stream=io.BytesIO(stream.read(cut)), size=cut)
        reader = open_reader(context.stream)
        if not list_signatures(reader):
            raise
        document_problems.append(
            f"the {size - cut} bytes after offset {cut} are not a readable incremental update "
            "(broken cross-reference section)"
        )
    try:
        return _run(_verify_reader(name, reader, context, document_problems))
    except RecursionError:
        raise UnreadablePdfError(TOO_DEEP) from None


_local = threading.local()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on this thread's own event loop, kept between calls (a new loop costs ~0.3 ms)."""
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is None:
        runner = _local.runner = asyncio.Runner()
    try:
        return runner.run(coroutine)
    except BaseException:
        # An interrupted loop (time limit, crash) may hold half-done tasks: start afresh next time.
        _local.runner = None
        runner.close()
        raise


async def _verify_reader(
    name: str, reader: PdfFileReader, context: VerificationContext, document_problems: list[str]
) -> VerificationReport:
    hybrid = _hybrid_problem(reader)
    try:
        fields = list_signatures(reader)
    except RecursionError:
        raise
    except Exception as error:
        return _report(name, "failed", f"The signature fields cannot be read: {error}.", True, ())
    if not fields:
        return _report(
            name, "failed", "The document carries no signature (no signature).", False, ()
        )
    try:
        context = replace(context, dss=read_dss(reader))
    except Exception as error:
        document_problems.append(f"the document security store is malformed: {error}")

    outcomes = []
    for field_name, field in fields:
        outcomes.append(await validate_one(reader, field_name, field, context))
    # Oldest first; malformed ones (no revision known) go last so they cannot pose as "the last".
    outcomes.sort(key=_revision_order)
    outcomes = await check_revocations(outcomes, context)
    judgements = tuple(judge(outcomes, index) for index in range(len(outcomes)))
    if document_problems:
        # Verified on a readable prefix: no signature covers the real file's end.
        judgements = tuple(_short_of_the_end(j) for j in judgements)
    if hybrid:
        document_problems.append(hybrid)
    problem = tail_problem(reader, context.size)
    if problem:
        document_problems.append(problem)
    misplaced = misplaced_issue_field(reader, context.stream, context.size)
    if misplaced:
        document_problems.append(misplaced)
    document_problems.extend(revision_problems(reader, _last_signed_revision(outcomes)))
    return _verdict(name, judgements, document_problems)


def _short_of_the_end(judgement: Judgement) -> Judgement:
    """A judgement made on a readable prefix: its signature covers no more than its revision."""
    report = judgement.report
    if report.coverage != "entire_file":
        return judgement
    return replace(judgement, report=replace(report, coverage="entire_revision"))


def _hybrid_problem(reader: PdfFileReader) -> str | None:
    """Let pyHanko validate a hybrid-reference file whose two views agree; else the difference.

    Without admission pyHanko refuses every signature of a hybrid file, so one that fails the
    check has its signatures failed as well as the document.
    """
    try:
        return admit_hybrid(reader)
    except RecursionError:
        raise
    except Exception as error:  # a broken object met while comparing the views
        return f"hybrid file: the two cross-reference views cannot be compared: {error}"


def _last_signed_revision(outcomes: list[Outcome]) -> int | None:
    revisions = [int(o.embedded.signed_revision) for o in outcomes if o.embedded is not None]
    return max(revisions, default=None)


def _revision_order(outcome: Outcome) -> tuple[bool, int]:
    embedded = outcome.embedded
    return (embedded is None, int(embedded.signed_revision) if embedded is not None else 0)


def _verdict(
    name: str, judgements: tuple[Judgement, ...], document_problems: list[str]
) -> VerificationReport:
    """The document's verdict, from the document's problems and each signature's judgement."""
    reports = tuple(j.report for j in judgements)
    signatures = [r for r in reports if r.kind == "signature"]
    modified = bool(document_problems) or any(j.modified for j in judgements)
    if document_problems:
        return _report(name, "failed", _sentence(document_problems[0]), True, reports)
    if not signatures:
        return _report(
            name,
            "failed",
            "The document carries no signature (no signature), only timestamps.",
            modified,
            reports,
        )
    failed = [j for j in judgements if j.report.verdict == "failed"]
    if failed:
        return _report(name, "failed", _first_reason(failed[0], "failed"), modified, reports)
    unsure = [j for j in judgements if j.report.verdict == "indeterminate"]
    if unsure:
        reason = _first_reason(unsure[0], "is indeterminate")
        return _report(name, "indeterminate", reason, modified, reports)
    count = len(signatures)
    noun = "signature is" if count == 1 else f"{count} signatures are"
    return _report(
        name,
        "passed",
        f"The {noun} valid and nothing but permitted additions follows any signature.",
        False,
        reports,
    )


def _first_reason(judgement: Judgement, verdict: str) -> str:
    """The document's reason from one signature's: its kind, field, verdict and headline."""
    report = judgement.report
    what = "Document timestamp" if report.kind == "document_timestamp" else "Signature"
    return _one_line(f"{what} '{report.field}' {verdict}: {judgement.headline}")


def _sentence(problem: str) -> str:
    text = problem.rstrip(".")
    return _one_line(text[:1].upper() + text[1:])


def _one_line(text: str) -> str:
    """One sentence on one line: the CLI prints the reason as its single stderr line."""
    text = " ".join(text.split()).rstrip(".")
    if len(text) > 300:
        text = text[:297] + "..."
    return text + "."


def _report(
    name: str, verdict: Verdict, reason: str, modified: bool, reports: tuple[SignatureReport, ...]
) -> VerificationReport:
    return VerificationReport(
        file=name,
        verdict=verdict,
        reason=reason,
        modified_after_signing=modified,
        signatures=reports,
    )
