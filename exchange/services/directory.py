"""The agency directory: agencies as a tree with no fixed levels, their certificates, groups.

An agency's code (mã định danh) is stored as an opaque string: nothing here reads levels out of
it. The tree comes from `parent_id` alone, however deep it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from exchange import audit
from exchange.actors import Actor
from exchange.enums import Role
from exchange.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from exchange.models import Agency, AgencyCertificate, AgencyGroup, AgencyGroupMember
from exchange.services.directory_rules import (
    creates_cycle,
    dedupe,
    is_within,
    read_certificate,
    tree_order,
    unknown_codes,
    validate_agency_code,
    validate_group_code,
    validate_name,
)


@dataclass(frozen=True)
class TreeEntry:
    """An agency in tree order, with its depth (0 for a root) and its parent's code."""

    agency: Agency
    depth: int
    parent_code: str | None


@dataclass(frozen=True)
class GroupEntry:
    """A group and the codes of the agencies it currently stands for."""

    group: AgencyGroup
    member_codes: list[str]
    children_of: str | None


# --- queries ---


def find_agency(session: Session, code: str) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFoundError(f"không có cơ quan mã {code!r}")
    return agency


def find_group(session: Session, code: str) -> AgencyGroup:
    group = session.scalar(select(AgencyGroup).where(AgencyGroup.code == code))
    if group is None:
        raise NotFoundError(f"không có nhóm mã {code!r}")
    return group


def _parents(session: Session) -> dict[int, int | None]:
    return {row.id: row.parent_id for row in session.execute(select(Agency.id, Agency.parent_id))}


def list_agencies(session: Session, *, active_only: bool = False) -> list[TreeEntry]:
    """Every agency in tree order (depth first, siblings by code)."""
    agencies = {agency.id: agency for agency in session.scalars(select(Agency))}
    order = tree_order([(a.id, a.parent_id, a.code) for a in agencies.values()])
    entries = []
    for agency_id, depth in order:
        agency = agencies[agency_id]
        if active_only and not agency.active:
            continue
        parent = agencies.get(agency.parent_id) if agency.parent_id is not None else None
        entries.append(TreeEntry(agency, depth, parent.code if parent else None))
    return entries


def group_members(
    session: Session, group: AgencyGroup, *, active_only: bool = True
) -> list[Agency]:
    """The agencies a group stands for now, by code: its list, or the children of its agency."""
    if group.children_of_id is not None:
        query = select(Agency).where(Agency.parent_id == group.children_of_id)
    else:
        query = (
            select(Agency)
            .join(AgencyGroupMember, AgencyGroupMember.agency_id == Agency.id)
            .where(AgencyGroupMember.group_id == group.id)
        )
    if active_only:
        query = query.where(Agency.active.is_(True))
    return list(session.scalars(query.order_by(Agency.code)))


def list_groups(session: Session) -> list[GroupEntry]:
    """Every group by code, with its current members (active or not) and its kind."""
    groups = session.scalars(
        select(AgencyGroup)
        .order_by(AgencyGroup.code)
        .options(selectinload(AgencyGroup.children_of))
    ).all()
    return [
        GroupEntry(
            group,
            [agency.code for agency in group_members(session, group, active_only=False)],
            group.children_of.code if group.children_of else None,
        )
        for group in groups
    ]


def resolve_recipients(
    session: Session, agency_codes: Sequence[str], group_codes: Sequence[str]
) -> list[Agency]:
    """The active agencies named and those of the groups named, once each, in the order given.

    Unknown or inactive agencies named directly are refused (422); a group brings only its active
    members.
    """
    agencies = {
        agency.code: agency
        for agency in session.scalars(select(Agency).where(Agency.code.in_(set(agency_codes))))
    }
    groups = {
        group.code: group
        for group in session.scalars(
            select(AgencyGroup).where(AgencyGroup.code.in_(set(group_codes)))
        )
    }
    problems: list[str] = []
    missing_agencies = unknown_codes(agency_codes, agencies)
    if missing_agencies:
        problems.append("không có cơ quan mã: " + ", ".join(missing_agencies))
    inactive = [code for code in dict.fromkeys(agency_codes) if code in agencies]
    inactive = [code for code in inactive if not agencies[code].active]
    if inactive:
        problems.append("cơ quan đã ngừng hoạt động: " + ", ".join(inactive))
    errors = {"agencies": "; ".join(problems)} if problems else {}
    missing_groups = unknown_codes(group_codes, groups)
    if missing_groups:
        errors["groups"] = "không có nhóm mã: " + ", ".join(missing_groups)
    if errors:
        raise ValidationError("nơi nhận không hợp lệ: " + "; ".join(errors.values()), errors=errors)
    chosen: list[Agency] = [agencies[code] for code in agency_codes]
    for code in group_codes:
        chosen.extend(group_members(session, groups[code]))
    return dedupe(chosen, key=lambda agency: agency.id)


# --- who may change the directory ---


def require_admin_over(session: Session, actor: Actor, agency_id: int | None) -> None:
    """Refuse unless `actor` is the operator, or an admin of `agency_id` or one of its ancestors.

    Creating a root agency (`agency_id` None) is the operator's alone.
    """
    if actor.is_system:
        return
    actor.require(Role.ADMIN)
    if (
        agency_id is None
        or actor.agency_id is None
        or not is_within(agency_id, actor.agency_id, _parents(session))
    ):
        raise PermissionDeniedError(
            "chỉ quản trị của cơ quan này hoặc cơ quan cấp trên mới được thay đổi danh bạ"
        )


# --- use cases (one commit each) ---


def create_agency(
    session: Session,
    actor: Actor,
    code: str,
    name: str,
    parent_code: str | None = None,
    contact: str = "",
    *,
    credential: str | None = None,
    seal_image: str | None = None,
) -> Agency:
    """Add an agency to the directory, under `parent_code` or as a root."""
    agency = new_agency(
        session,
        actor,
        code,
        name,
        parent_code,
        contact,
        credential=credential,
        seal_image=seal_image,
    )
    details = {"code": agency.code, "name": agency.name, "parent": parent_code}
    _finish(session, actor, "agency.create", details, f"mã định danh {code} đã có trong danh bạ")
    return agency


def new_agency(
    session: Session,
    actor: Actor,
    code: str,
    name: str,
    parent_code: str | None = None,
    contact: str = "",
    *,
    credential: str | None = None,
    seal_image: str | None = None,
) -> Agency:
    """Add an agency row (flushed, neither audited nor committed)."""
    validate_agency_code(code)
    name = validate_name(name)
    parent = find_agency(session, parent_code) if parent_code else None
    require_admin_over(session, actor, parent.id if parent else None)
    if session.scalar(select(Agency.id).where(Agency.code == code)) is not None:
        raise ConflictError(f"mã định danh {code} đã có trong danh bạ")
    agency = Agency(
        code=code,
        name=name,
        contact=contact.strip(),
        parent_id=parent.id if parent else None,
        active=True,
        credential=credential,
        seal_image=seal_image,
    )
    session.add(agency)
    session.flush()
    return agency


# `update_agency(parent_code=UNCHANGED)` leaves the parent alone; None makes the agency a root.
UNCHANGED = "\0unchanged"


def update_agency(
    session: Session,
    actor: Actor,
    code: str,
    *,
    name: str | None = None,
    contact: str | None = None,
    parent_code: str | None = UNCHANGED,
    active: bool | None = None,
) -> Agency:
    """Change an agency's name, contact, place in the tree (None: a root) or active flag."""
    agency = find_agency(session, code)
    require_admin_over(session, actor, agency.id)
    changes: dict[str, object] = {}
    if name is not None:
        agency.name = changes["name"] = validate_name(name)
    if contact is not None:
        agency.contact = changes["contact"] = contact.strip()
    if parent_code != UNCHANGED:
        parent = find_agency(session, parent_code) if parent_code else None
        require_admin_over(session, actor, parent.id if parent else None)
        if parent is not None and creates_cycle(agency.id, parent.id, _parents(session)):
            raise ValidationError(
                f"không thể đặt {code} dưới {parent.code}: {parent.code} thuộc {code}",
                errors={"parent_code": "tạo thành vòng lặp trong cây cơ quan"},
            )
        agency.parent_id = parent.id if parent else None
        changes["parent"] = parent.code if parent else None
    if active is not None:
        agency.active = changes["active"] = active
    _finish(session, actor, "agency.update", {"code": code, **changes})
    return agency


def set_active(session: Session, actor: Actor, code: str, active: bool) -> Agency:
    """Open or close an agency's mailbox: an inactive agency neither sends nor receives."""
    agency = find_agency(session, code)
    require_admin_over(session, actor, agency.id)
    agency.active = active
    _finish(session, actor, "agency.set_active", {"code": code, "active": active})
    return agency


def certificate_row(agency: Agency, data: bytes) -> AgencyCertificate:
    """An unsaved AgencyCertificate for `agency` from PEM or DER bytes."""
    from cryptography.hazmat.primitives.serialization import Encoding

    certificate = read_certificate(data)
    der = certificate.public_bytes(Encoding.DER)
    return AgencyCertificate(
        agency_id=agency.id,
        sha256=hashlib.sha256(der).hexdigest(),
        subject=certificate.subject.rfc4514_string(),
        not_after=certificate.not_valid_after_utc,
        der=der,
    )


def add_certificate(
    session: Session, actor: Actor, agency_code: str, pem_or_der: bytes
) -> AgencyCertificate:
    """Register a certificate the agency signs with (its documents' agency signatures)."""
    agency = find_agency(session, agency_code)
    require_admin_over(session, actor, agency.id)
    row = certificate_row(agency, pem_or_der)
    owner = session.scalar(
        select(Agency.code)
        .join(AgencyCertificate, AgencyCertificate.agency_id == Agency.id)
        .where(AgencyCertificate.sha256 == row.sha256)
    )
    if owner is not None:
        raise ConflictError(f"chứng thư này đã được đăng ký cho cơ quan {owner}")
    session.add(row)
    session.flush()
    details = {"code": agency_code, "sha256": row.sha256, "subject": row.subject}
    _finish(session, actor, "agency.add_certificate", details, "chứng thư này đã được đăng ký")
    return row


def create_group(
    session: Session,
    actor: Actor,
    code: str,
    name: str,
    *,
    members: Sequence[str] = (),
    children_of: str | None = None,
) -> AgencyGroup:
    """A group of recipients: a fixed list of agencies, or every active child of one agency."""
    validate_group_code(code)
    name = validate_name(name)
    if members and children_of:
        raise ValidationError(
            "nhóm là danh sách cơ quan hoặc các cơ quan trực thuộc một cơ quan, không cả hai",
            errors={"children_of": "không dùng cùng members"},
        )
    if not actor.is_system:
        actor.require(Role.ADMIN)
    if session.scalar(select(AgencyGroup.id).where(AgencyGroup.code == code)) is not None:
        raise ConflictError(f"mã nhóm {code} đã có")
    parent = find_agency(session, children_of) if children_of else None
    missing = unknown_codes(
        members, session.scalars(select(Agency.code).where(Agency.code.in_(set(members))))
    )
    if missing:
        raise ValidationError(
            "không có cơ quan mã: " + ", ".join(missing),
            errors={"members": "không có cơ quan mã: " + ", ".join(missing)},
        )
    group = AgencyGroup(code=code, name=name, children_of_id=parent.id if parent else None)
    session.add(group)
    session.flush()
    for member_code in dict.fromkeys(members):
        session.add(
            AgencyGroupMember(group_id=group.id, agency_id=find_agency(session, member_code).id)
        )
    details = {"code": code, "name": name, "members": list(members), "children_of": children_of}
    _finish(session, actor, "group.create", details, f"mã nhóm {code} đã có")
    return group


def add_group_member(
    session: Session, actor: Actor, group_code: str, agency_code: str
) -> AgencyGroup:
    """Add an agency to a fixed-list group."""
    if not actor.is_system:
        actor.require(Role.ADMIN)
    group = find_group(session, group_code)
    if group.children_of_id is not None:
        raise ConflictError(
            f"nhóm {group_code} gồm các cơ quan trực thuộc một cơ quan: không thêm thành viên"
        )
    agency = find_agency(session, agency_code)
    if session.get(AgencyGroupMember, (group.id, agency.id)) is not None:
        raise ConflictError(f"{agency_code} đã thuộc nhóm {group_code}")
    session.add(AgencyGroupMember(group_id=group.id, agency_id=agency.id))
    details = {"group": group_code, "agency": agency_code}
    _finish(
        session, actor, "group.add_member", details, f"{agency_code} đã thuộc nhóm {group_code}"
    )
    return group


def _finish(
    session: Session,
    actor: Actor,
    action: str,
    details: dict[str, Any],
    conflict: str = "dữ liệu đã bị thay đổi đồng thời",
) -> None:
    """Audit and commit; a unique constraint lost to a concurrent writer is a 409, not a 500."""
    audit.record(session, action, actor=actor, details=details)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(conflict) from None
