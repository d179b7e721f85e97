"""Validation of each embedded signature and document timestamp with pyHanko, strictly."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from asn1crypto import crl, ocsp, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DocInfoRule,
    DSSCompareRule,
    FormUpdatingRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    XrefStreamRule,
)
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import find_cms_attribute_iter, find_unique_cms_attribute
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureStatus,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleTrustManager

from signer.trust import TrustSettings
from signer.verification.certified_fill import CertifiedFormFillRule
from signer.verification.model import Modifications
from signer.verification.revocation import RevocationOutcome, embedded_data_covers
from signer.verification.speedups import SIGNATURE_VALIDATOR
from signer.verification.structure import byte_range_problem
from signer.verification.workflow import WorkflowFieldFillRule

# pyHanko logs every rejected forgery as a WARNING with a traceback; the verifier reports each one
# in its verdict instead, so quieten those loggers unless the application set a level itself.
for _name in ("pyhanko", "pyhanko_certvalidator"):
    _logger = logging.getLogger(_name)
    _logger.addHandler(logging.NullHandler())
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.ERROR)

# pyHanko's default policy, with GenericFieldModificationRule narrowed to the issue workflow's
# blanks (signer/fields.py): after a signature only signature fields and those may be filled,
# and blank text fields where the document's certification permits form filling
# (certified_fill.py).
STRICT_DIFF_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),  # type: ignore[no-untyped-call]
        DocInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
        MetadataUpdateRule().as_qualified(  # type: ignore[no-untyped-call]
            ModificationLevel.LTA_UPDATES
        ),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(),  # type: ignore[no-untyped-call]
            SigFieldModificationRule(),
            WorkflowFieldFillRule(),
            CertifiedFormFillRule(),
        ]
    ),
)
SIGNER_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)

_trust_managers: dict[tuple[bytes, ...], SimpleTrustManager] = {}


def trust_manager_for(trust: TrustSettings) -> SimpleTrustManager:
    """A trust manager per set of roots, built once: roots are immutable, so sharing is safe."""
    key = trust.fingerprint
    manager = _trust_managers.get(key)
    if manager is None:
        manager = SimpleTrustManager.build(trust_roots=list(trust.roots))
        if len(_trust_managers) > 64:
            _trust_managers.clear()
        _trust_managers[key] = manager
    return manager


@dataclass(frozen=True)
class EmbeddedRevinfo:
    """Certificates and revocation data the document itself carries (DSS)."""

    certs: tuple[x509.Certificate, ...] = ()
    crls: tuple[crl.CertificateList, ...] = ()
    ocsps: tuple[ocsp.OCSPResponse, ...] = ()


def read_dss(reader: PdfFileReader) -> EmbeddedRevinfo:
    """The document security store's content (empty when there is none)."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return EmbeddedRevinfo()
    context = dss.as_validation_context({"trust_roots": []})
    return EmbeddedRevinfo(
        certs=tuple(dss.load_certs()), crls=tuple(context.crls), ocsps=tuple(context.ocsps)
    )


def signed_revinfo(embedded: EmbeddedPdfSignature) -> tuple[list[Any], list[Any]]:
    """CRLs and OCSP responses in the signature's signed adbe-revocationInfoArchival attribute."""
    try:
        archival = find_unique_cms_attribute(
            embedded.signer_info["signed_attrs"], "adobe_revocation_info_archival"
        )
    except Exception:  # absent or ambiguous: no usable signed revocation data
        return [], []
    return list(archival["crl"] or ()), list(archival["ocsp"] or ())


@dataclass(frozen=True)
class VerificationContext:
    """What every step of one verification shares, in place of a long list of parameters.

    `trust`, `offline`, `timeout` and `now` are the caller's (`verify_pdf`); `stream` and `size`
    are the bytes verified (a readable prefix when a broken update follows it); `dss` is the
    document security store's content, read once per document.
    """

    trust: TrustSettings
    offline: bool
    timeout: float | None
    now: datetime | None
    stream: BinaryIO
    size: int
    dss: EmbeddedRevinfo = EmbeddedRevinfo()


@dataclass(frozen=True)
class Outcome:
    """What validation established about one embedded signature, before wording it."""

    field: str
    kind: str
    embedded: EmbeddedPdfSignature | None
    status: SignatureStatus | None
    revocation: RevocationOutcome | None
    structural_problem: str | None = None
    structural_subindication: str = "FORMAT_FAILURE"
    embedded_revinfo: bool = False
    # The revocation status of the signature timestamp's TSA (signer/verification/timeline.py).
    timestamp_revocation: RevocationOutcome | None = None


def list_signatures(reader: PdfFileReader) -> list[tuple[str, generic.DictionaryObject]]:
    """Filled signature fields (name, field dictionary) in the document."""
    return [(name, field) for name, _value, field in enumerate_sig_fields(reader, True)]


async def validate_one(
    reader: PdfFileReader, name: str, field: generic.DictionaryObject, context: VerificationContext
) -> Outcome:
    """Validate one filled signature field; malformed structures become outcomes, not errors."""
    try:
        if isinstance(field, generic.IndirectObject):
            field = field.get_object()
        sig_object = field["/V"]
        if not isinstance(sig_object, generic.DictionaryObject):
            return Outcome(name, "signature", None, None, None, "/V is not a dictionary")
        kind = "document_timestamp" if sig_object.get("/Type") == "/DocTimeStamp" else "signature"
        problem = byte_range_problem(sig_object, context.stream, context.size)
        if problem is not None:
            return Outcome(name, kind, None, None, None, problem)
        embedded = EmbeddedPdfSignature(reader, field, name)
    except Exception as error:  # a malformed signature is a verdict, never an exception
        return Outcome(name, "signature", None, None, None, f"malformed signature: {error}")

    manager = trust_manager_for(context.trust)
    dss, now = context.dss, context.now

    # The signature's own certificates may complete its timestamp's chain (the TSA's CA), and
    # pyHanko checks the timestamp before it registers them: offer them up front.
    candidates = [*dss.certs, *embedded.other_embedded_certs]

    def validation_context(moment: datetime | None) -> ValidationContext:
        return ValidationContext(
            trust_manager=manager,
            other_certs=candidates,
            moment=moment,
            revocation_mode="none",
            signature_validator=SIGNATURE_VALIDATOR,
        )

    try:
        if kind == "document_timestamp":
            ts_status: DocumentTimestampStatus = await async_validate_pdf_timestamp(
                embedded,
                validation_context=validation_context(now),
                diff_policy=STRICT_DIFF_POLICY,
            )
            return Outcome(name, kind, embedded, ts_status, None)
        status = await _validate_signature(embedded, validation_context, now)
    except SignatureValidationError as error:
        indication = error.ades_subindication
        return Outcome(
            name,
            kind,
            embedded,
            None,
            None,
            error.failure_message,
            getattr(indication, "name", "FORMAT_FAILURE"),
        )
    except Exception as error:
        return Outcome(name, kind, embedded, None, None, f"signature cannot be validated: {error}")

    # Revocation is checked once every signature and timestamp is validated: whether a revoked
    # certificate still signed in time depends on the timestamps that follow (timeline.py).
    crls, ocsps = signed_revinfo(embedded)
    covered = embedded_data_covers(status.signing_cert, [*dss.crls, *crls], [*dss.ocsps, *ocsps])
    return Outcome(name, kind, embedded, status, None, embedded_revinfo=covered)


def _signature_moment(status: PdfSignatureStatus) -> datetime | None:
    """The trusted signature timestamp's time, the best proof of when the signature existed."""
    tst = status.timestamp_validity
    if tst is not None and tst.intact and tst.valid and tst.trusted:
        return tst.timestamp
    return None


async def _validate_signature(
    embedded: EmbeddedPdfSignature,
    context: Callable[[datetime | None], ValidationContext],
    now: datetime | None,
) -> PdfSignatureStatus:
    """pyHanko's validation with `context(moment)` building a validation context for a time."""
    signer_context = context(now)
    # pyHanko consults the timestamp context only for the timestamp tokens it finds with
    # find_cms_attribute_iter; without any, building a second context (~0.5 ms) is wasted.
    ts_context = context(now) if _carries_timestamps(embedded) else signer_context
    status = await async_validate_pdf_signature(
        embedded,
        signer_validation_context=signer_context,
        ts_validation_context=ts_context,
        diff_policy=STRICT_DIFF_POLICY,
        key_usage_settings=SIGNER_KEY_USAGE,
    )
    moment = _signature_moment(status)
    if status.trust_problem_indic == AdESIndeterminate.OUT_OF_BOUNDS_NO_POE and moment:
        # Expired now, but a trusted timestamp proves the signature existed earlier:
        # judge the certificate at that time (the point of B-T and later levels).
        embedded.diff_result = None
        status = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=context(moment),
            ts_validation_context=context(now),
            diff_policy=STRICT_DIFF_POLICY,
            key_usage_settings=SIGNER_KEY_USAGE,
        )
    return status


def _carries_timestamps(embedded: EmbeddedPdfSignature) -> bool:
    """True when the signer info holds a signature timestamp or a content timestamp."""
    info = embedded.signer_info
    found = (
        *find_cms_attribute_iter(info["unsigned_attrs"], "signature_time_stamp_token"),
        *find_cms_attribute_iter(info["signed_attrs"], "content_time_stamp"),
    )
    return len(found) > 0


def modification_name(level: ModificationLevel | None) -> Modifications:
    """The contract's `modifications` value for pyHanko's modification level."""
    names: dict[ModificationLevel, Modifications] = {
        ModificationLevel.NONE: "none",
        ModificationLevel.LTA_UPDATES: "dss_and_timestamps",
        ModificationLevel.FORM_FILLING: "form_filling",
        ModificationLevel.ANNOTATIONS: "annotations",
    }
    return "other" if level is None else names.get(level, "other")


def later_doc_timestamp(outcomes: Sequence[Outcome], index: int) -> bool:
    """True when a document timestamp follows the signature at `index`."""
    return any(o.kind == "document_timestamp" for o in outcomes[index + 1 :])


__all__ = [
    "AdESFailure",
    "EmbeddedRevinfo",
    "Outcome",
    "VerificationContext",
    "later_doc_timestamp",
    "list_signatures",
    "modification_name",
    "read_dss",
    "validate_one",
]
