"""The agency directory over the API: anyone signed in reads it, admins change their subtree."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request, url_for

from exchange.api.body import json_body, optional, required
from exchange.api.context import current_actor, request_session
from exchange.models import Agency, AgencyCertificate
from exchange.services import directory as service

directory = Blueprint("directory", __name__)


@directory.get("/agencies")
def list_agencies() -> dict[str, Any]:
    """Every agency in tree order; `?active=1` for the active ones only."""
    active_only = request.args.get("active", "") in ("1", "true")
    entries = service.list_agencies(request_session(), active_only=active_only)
    return {
        "agencies": [
            agency_json(entry.agency, parent_code=entry.parent_code, depth=entry.depth)
            for entry in entries
        ]
    }


@directory.get("/agencies/<code>")
def get_agency(code: str) -> dict[str, Any]:
    """One agency with its children and registered certificates."""
    session = request_session()
    agency = service.find_agency(session, code)
    body = agency_json(agency, parent_code=agency.parent.code if agency.parent else None)
    body["children"] = sorted(child.code for child in agency.children)
    body["certificates"] = [certificate_json(c) for c in agency.certificates]
    return body


@directory.post("/agencies")
def create_agency() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Add an agency (admin of the parent agency, or an operator)."""
    body = json_body(
        code=required(str, max_length=35),
        name=required(str, max_length=255),
        parent_code=optional(str, None, max_length=35),
        contact=optional(str, "", max_length=255, nullable=False),
    )
    agency = service.create_agency(
        request_session(),
        current_actor(),
        body["code"],
        body["name"],
        body["parent_code"],
        body["contact"],
    )
    location = url_for(".get_agency", code=agency.code)
    return agency_json(agency, parent_code=body["parent_code"]), 201, {"Location": location}


@directory.patch("/agencies/<code>")
def update_agency(code: str) -> dict[str, Any]:
    """Change an agency's name, contact, parent or active flag (admin over it)."""
    raw = request.get_json()
    body = json_body(
        name=optional(str, None, max_length=255),
        contact=optional(str, None, max_length=255),
        parent_code=optional(str, None, max_length=35),
        active=optional(bool, None),
    )
    agency = service.update_agency(
        request_session(),
        current_actor(),
        code,
        name=body["name"],
        contact=body["contact"],
        parent_code=body["parent_code"] if "parent_code" in raw else service.UNCHANGED,
        active=body["active"],
    )
    return agency_json(agency, parent_code=agency.parent.code if agency.parent else None)


@directory.post("/agencies/<code>/certificates")
def add_certificate(code: str) -> tuple[dict[str, Any], int]:
    """Register a certificate the agency signs with: `{"pem": "-----BEGIN CERTIFICATE-----..."}`."""
    body = json_body(pem=required(str, max_length=64 * 1024))
    row = service.add_certificate(
        request_session(), current_actor(), code, body["pem"].encode("ascii", "replace")
    )
    return certificate_json(row), 201


@directory.get("/groups")
def list_groups() -> dict[str, Any]:
    """Every recipient group with the agencies it currently stands for."""
    return {
        "groups": [
            {
                "code": entry.group.code,
                "name": entry.group.name,
                "children_of": entry.children_of,
                "members": entry.member_codes,
            }
            for entry in service.list_groups(request_session())
        ]
    }


@directory.post("/groups")
def create_group() -> tuple[dict[str, Any], int]:
    """Add a group: `members` (agency codes) or `children_of` (an agency code)."""
    body = json_body(
        code=required(str, max_length=64),
        name=required(str, max_length=255),
        members=optional(list, [], items=str, max_length=1000, nullable=False),
        children_of=optional(str, None, max_length=35),
    )
    session = request_session()
    group = service.create_group(
        session,
        current_actor(),
        body["code"],
        body["name"],
        members=body["members"],
        children_of=body["children_of"],
    )
    members = [agency.code for agency in service.group_members(session, group, active_only=False)]
    return {
        "code": group.code,
        "name": group.name,
        "children_of": body["children_of"],
        "members": members,
    }, 201


@directory.post("/groups/<code>/members")
def add_group_member(code: str) -> tuple[dict[str, Any], int]:
    """Add an agency to a fixed-list group: `{"agency_code": "..."}`."""
    body = json_body(agency_code=required(str, max_length=35))
    session = request_session()
    group = service.add_group_member(session, current_actor(), code, body["agency_code"])
    members = [agency.code for agency in service.group_members(session, group, active_only=False)]
    return {"code": group.code, "name": group.name, "children_of": None, "members": members}, 201


def agency_json(
    agency: Agency, *, parent_code: str | None, depth: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": agency.code,
        "name": agency.name,
        "parent_code": parent_code,
        "contact": agency.contact,
        "active": agency.active,
    }
    if depth is not None:
        body["depth"] = depth
    return body


def certificate_json(row: AgencyCertificate) -> dict[str, Any]:
    return {"sha256": row.sha256, "subject": row.subject, "not_after": row.not_after.isoformat()}
