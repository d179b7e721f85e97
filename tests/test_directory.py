"""The agency directory: codes, the tree at any depth, groups, recipients, dev data, CLI, API."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from exchange.actors import SYSTEM, Actor
from exchange.cli import main
from exchange.enums import Role
from exchange.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from exchange.models import Agency, AgencyCertificate, AgencyGroup, AuditEvent, Membership, User
from exchange.services.directory import (
    add_certificate,
    add_group_member,
    create_agency,
    create_group,
    list_agencies,
    resolve_recipients,
    set_active,
    update_agency,
)
from exchange.services.directory_rules import (
    creates_cycle,
    dedupe,
    is_within,
    tree_order,
    unknown_codes,
    validate_agency_code,
    validate_group_code,
)
from signer.devpki import dev_cert_path

# --- pure decisions ---


@pytest.mark.parametrize(
    "code", ["A", "000.00.00.H58", "DEV.TPD.X01", "H58.1.2.3.4.5.6", "9" * 35, "A." * 17 + "B"]
)
def test_valid_agency_codes(code: str) -> None:
    assert validate_agency_code(code) == code


@pytest.mark.parametrize(
    "code",
    ["", "a", "dev.tpd", "A..B", ".A", "A.", "A B", "Đ.01", "A-B", "9" * 36, "A.B\n"],
)
def test_invalid_agency_codes(code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_agency_code(code)
    assert caught.value.status == 422
    assert "code" in caught.value.errors


@pytest.mark.parametrize("code", ["cac-xa", "nhom.1", "a", "x" * 64])
def test_valid_group_codes(code: str) -> None:
    assert validate_group_code(code) == code


@pytest.mark.parametrize("code", ["", "-x", "Cac-Xa", "các-xã", "x" * 65, "a b"])
def test_invalid_group_codes(code: str) -> None:
    with pytest.raises(ValidationError):
        validate_group_code(code)


def test_unknown_codes_keep_order_and_appear_once() -> None:
    assert unknown_codes(["C", "A", "B", "C", "D"], ["A", "B"]) == ["C", "D"]


def test_dedupe_keeps_the_first_occurrence() -> None:
    assert dedupe([3, 1, 3, 2, 1], key=lambda x: x) == [3, 1, 2]


def test_tree_order_at_any_depth() -> None:
    # province → district → commune → unit → team: five levels, siblings out of code order.
    nodes = [
        (5, 4, "Z.TEAM"),
        (1, None, "P"),
        (3, 2, "P.C2"),
        (2, 1, "P.D"),
        (4, 3, "P.C2.U"),
        (6, 2, "P.C1"),
        (7, None, "B.ROOT"),
    ]
    assert tree_order(nodes) == [(7, 0), (1, 0), (2, 1), (6, 2), (3, 2), (4, 3), (5, 4)]


def test_tree_order_survives_a_missing_parent() -> None:
    assert tree_order([(2, 99, "ORPHAN"), (1, None, "ROOT")]) == [(2, 0), (1, 0)]


def test_cycle_and_ancestry() -> None:
    parents = {1: None, 2: 1, 3: 2, 4: 3}
    assert creates_cycle(2, 4, parents)  # 2 under its own grandchild
    assert not creates_cycle(4, 1, parents)
    assert creates_cycle(3, 3, parents)
    assert is_within(4, 1, parents) and is_within(2, 2, parents)
    assert not is_within(1, 4, parents)


# --- the directory in the database ---


def deep_tree(make_agency: Any) -> dict[str, Any]:
    """A four-level tree: province, two communes, a unit in one, a team in the unit."""
    province = make_agency("DEV.P", "Tỉnh thử")
    x1 = make_agency("DEV.P.X1", "Xã một", province)
    x2 = make_agency("DEV.P.X2", "Xã hai", province)
    unit = make_agency("DEV.P.X1.U", "Phòng của xã một", x1)
    team = make_agency("DEV.P.X1.U.T", "Tổ trong phòng", unit)
    return {"province": province, "x1": x1, "x2": x2, "unit": unit, "team": team}


def admin_of(agency: Any, user_id: int = 1) -> Actor:
    return Actor(user_id, "quantri", agency.id, agency.code, frozenset({Role.ADMIN}))


def test_list_agencies_in_tree_order(session: Any, make_agency: Any) -> None:
    deep_tree(make_agency)
    make_agency("DEV.A", "Khác")
    entries = list_agencies(session)
    assert [(e.agency.code, e.depth, e.parent_code) for e in entries] == [
        ("DEV.A", 0, None),
        ("DEV.P", 0, None),
        ("DEV.P.X1", 1, "DEV.P"),
        ("DEV.P.X1.U", 2, "DEV.P.X1"),
        ("DEV.P.X1.U.T", 3, "DEV.P.X1.U"),
        ("DEV.P.X2", 1, "DEV.P"),
    ]


def test_create_agency_errors(session: Any, make_agency: Any) -> None:
    make_agency("DEV.A")
    with pytest.raises(ConflictError):
        create_agency(session, SYSTEM, "DEV.A", "Trùng")
    with pytest.raises(NotFoundError):
        create_agency(session, SYSTEM, "DEV.B", "Mồ côi", parent_code="DEV.NONE")
    with pytest.raises(ValidationError):
        create_agency(session, SYSTEM, "DEV.C", "   ")


def test_admins_manage_their_own_subtree(session: Any, make_agency: Any) -> None:
    tree = deep_tree(make_agency)
    commune_admin = admin_of(tree["x1"])
    created = create_agency(session, commune_admin, "DEV.P.X1.V", "Phòng mới", "DEV.P.X1.U")
    assert created.parent_id == tree["unit"].id
    with pytest.raises(PermissionDeniedError):
        create_agency(session, commune_admin, "DEV.P.X2.V", "Không được", "DEV.P.X2")
    with pytest.raises(PermissionDeniedError):
        create_agency(session, commune_admin, "DEV.ROOT", "Gốc mới")
    with pytest.raises(PermissionDeniedError):
        set_active(session, commune_admin, "DEV.P", False)
    clerk = Actor(2, "vanthu", tree["x1"].id, "DEV.P.X1", frozenset({Role.CLERK}))
    with pytest.raises(PermissionDeniedError):
        update_agency(session, clerk, "DEV.P.X1", name="Đổi tên")


def test_update_agency_moves_it_but_never_under_itself(session: Any, make_agency: Any) -> None:
    tree = deep_tree(make_agency)
    update_agency(session, SYSTEM, "DEV.P.X1.U", parent_code="DEV.P.X2", contact="0273 123")
    assert tree["unit"].parent_id == tree["x2"].id
    with pytest.raises(ValidationError) as caught:
        update_agency(session, SYSTEM, "DEV.P", parent_code="DEV.P.X1.U.T")
    assert "parent_code" in caught.value.errors
    session.rollback()
    update_agency(session, SYSTEM, "DEV.P.X1", parent_code=None)
    assert tree["x1"].parent_id is None


def test_certificates_are_registered_once(session: Any, make_agency: Any) -> None:
    make_agency("DEV.TPD.X01")
    pem = dev_cert_path("agency-tanthoi").read_bytes()
    row = add_certificate(session, SYSTEM, "DEV.TPD.X01", pem)
    assert len(row.sha256) == 64
    assert "2.5.4.97=DEV.TPD.X01" in row.subject or "DEV.TPD.X01" in row.subject
    assert row.not_after.year >= 2026
    with pytest.raises(ConflictError):
        add_certificate(session, SYSTEM, "DEV.TPD.X01", pem)
    session.rollback()
    with pytest.raises(ValidationError):
        add_certificate(session, SYSTEM, "DEV.TPD.X01", b"not a certificate")


def test_resolve_refuses_unknown_codes_and_lists_them(session: Any, make_agency: Any) -> None:
    make_agency("DEV.A")
    with pytest.raises(ValidationError) as caught:
        resolve_recipients(session, ["DEV.A", "DEV.X", "DEV.Y", "DEV.X"], ["khong-co"])
    assert caught.value.status == 422
    assert "DEV.X, DEV.Y" in caught.value.errors["agencies"]
    assert "khong-co" in caught.value.errors["groups"]


def test_resolve_refuses_an_inactive_agency(session: Any, make_agency: Any) -> None:
    make_agency("DEV.A")
    make_agency("DEV.OFF", active=False)
    with pytest.raises(ValidationError) as caught:
        resolve_recipients(session, ["DEV.A", "DEV.OFF"], [])
    assert "DEV.OFF" in caught.value.errors["agencies"]


def test_resolve_groups_dedupes_in_stable_order(session: Any, make_agency: Any) -> None:
    tree = deep_tree(make_agency)
    make_agency("DEV.P.X3", "Xã ba (ngừng)", tree["province"], active=False)
    create_group(session, SYSTEM, "cac-xa", "Các xã", children_of="DEV.P")
    create_group(session, SYSTEM, "tu-chon", "Tự chọn", members=["DEV.P.X1.U.T", "DEV.P.X2"])
    resolved = resolve_recipients(session, ["DEV.P.X2", "DEV.P"], ["tu-chon", "cac-xa"])
    # Children only (not grandchildren), inactive members left out, each agency once.
    assert [a.code for a in resolved] == ["DEV.P.X2", "DEV.P", "DEV.P.X1.U.T", "DEV.P.X1"]
    assert resolve_recipients(session, [], []) == []


def test_group_rules(session: Any, make_agency: Any) -> None:
    deep_tree(make_agency)
    with pytest.raises(ValidationError):
        create_group(session, SYSTEM, "ca-hai", "Cả hai", members=["DEV.P"], children_of="DEV.P")
    with pytest.raises(ValidationError) as caught:
        create_group(session, SYSTEM, "thieu", "Thiếu", members=["DEV.P", "DEV.NONE"])
    assert "DEV.NONE" in caught.value.detail
    session.rollback()
    create_group(session, SYSTEM, "con", "Con", children_of="DEV.P")
    with pytest.raises(ConflictError):
        add_group_member(session, SYSTEM, "con", "DEV.P.X1.U")
    create_group(session, SYSTEM, "ds", "Danh sách")
    add_group_member(session, SYSTEM, "ds", "DEV.P.X1.U")
    with pytest.raises(ConflictError):
        add_group_member(session, SYSTEM, "ds", "DEV.P.X1.U")
    session.rollback()
    assert [a.code for a in resolve_recipients(session, [], ["ds"])] == ["DEV.P.X1.U"]


def test_directory_changes_are_audited(session: Any, make_agency: Any) -> None:
    province = make_agency("DEV.P")
    create_agency(session, admin_of(province), "DEV.P.N", "Mới", "DEV.P")
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "agency.create")).one()
    assert (event.actor, event.agency_code) == ("quantri", "DEV.P")
    assert event.details["code"] == "DEV.P.N"


# --- the development data set ---


def test_dev_data_loads_twice_without_duplicates(session: Any, runtime: Any) -> None:
    from exchange.dev_data import load_dev_data

    first = load_dev_data(session, runtime)
    assert (first.agencies, first.certificates, first.groups) == (10, 10, 3)
    counts = [
        session.scalar(select(func.count()).select_from(model))
        for model in (Agency, AgencyCertificate, AgencyGroup, User, Membership)
    ]
    second = load_dev_data(session, runtime)
    assert not second.changed and second.memberships == 0
    assert counts == [
        session.scalar(select(func.count()).select_from(model))
        for model in (Agency, AgencyCertificate, AgencyGroup, User, Membership)
    ]
    assert [a.code for a in resolve_recipients(session, [], ["cac-xa"])] == [
        f"DEV.TPD.X0{n}" for n in range(1, 7)
    ]
    district_children = resolve_recipients(session, [], ["truc-thuoc-huyen"])
    assert len(district_children) == 9
    assert [a.code for a in resolve_recipients(session, [], ["cac-phong"])] == [
        "DEV.TPD.P01",
        "DEV.TPD.P02",
        "DEV.TPD.P03",
    ]


def test_dev_data_matches_the_dev_certificates(session: Any, runtime: Any) -> None:
    from exchange.dev_data import load_dev_data
    from exchange.services.users import authenticate
    from signer.credentials import load_credential
    from signer.devpki import DEV_PASSPHRASE

    load_dev_data(session, runtime)
    for agency in session.scalars(select(Agency)):
        assert agency.credential and agency.seal_image
        credential = load_credential(agency.credential, DEV_PASSPHRASE)
        assert credential.organization_identifier == agency.code
        assert credential.common_name == agency.name
    officials = session.scalars(select(User).where(User.credential.is_not(None))).all()
    assert len(officials) == 21
    for user in officials:
        credential = load_credential(user.credential, DEV_PASSPHRASE)
        assert credential.common_name == user.full_name
        title = credential.certificate.subject.native.get("title")
        assert title == user.title
    assert authenticate(session, "tanthoi.chutich", "congvan-dev").full_name == "Phạm Văn Hậu"


def test_dev_data_refused_outside_development(session: Any, runtime: Any) -> None:
    from exchange.dev_data import load_dev_data
    from exchange.errors import ConfigurationError
    from exchange.runtime import Runtime

    production = Runtime(
        settings=runtime.settings.with_overrides(env="production"),
        store=runtime.store,
        trust=runtime.trust,
    )
    with pytest.raises(ConfigurationError):
        load_dev_data(session, production)
    assert session.scalar(select(func.count()).select_from(Agency)) == 0


# --- the operator's commands ---


def run(database_url: str, *args: str) -> Any:
    env = {"CONGVAN_ENV": "development", "CONGVAN_DATABASE_URL": database_url}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_agencies_and_groups(engine: Any, database_url: str) -> None:
    steps = [
        ("agencies", "add", "DEV.P", "Tỉnh thử", "--contact", "0273"),
        ("agencies", "add", "DEV.P.X1", "Xã một", "--parent", "DEV.P"),
        ("agencies", "add", "DEV.P.X1.U", "Phòng", "--parent", "DEV.P.X1"),
        ("agencies", "add", "DEV.P.X2", "Xã hai", "--parent", "DEV.P"),
        ("agencies", "set-active", "DEV.P.X2", "no"),
        ("agencies", "add-certificate", "DEV.P.X1", str(dev_cert_path("agency-tanthoi"))),
        ("groups", "add", "con-tinh", "Trực thuộc tỉnh", "--children-of", "DEV.P"),
        ("groups", "add", "ds", "Danh sách", "--member", "DEV.P.X1.U"),
        ("groups", "add-member", "ds", "DEV.P"),
    ]
    for step in steps:
        result = run(database_url, *step)
        assert result.exit_code == 0, (step, result.output)
    listed = run(database_url, "agencies", "list")
    assert listed.stdout.splitlines() == [
        "DEV.P  Tỉnh thử",
        "  DEV.P.X1  Xã một",
        "    DEV.P.X1.U  Phòng",
        "  DEV.P.X2  Xã hai  [ngừng hoạt động]",
    ]
    groups = run(database_url, "groups", "list")
    assert groups.stdout.splitlines() == [
        "con-tinh  Trực thuộc tỉnh (trực thuộc DEV.P)",
        "  DEV.P.X1, DEV.P.X2",
        "ds  Danh sách",
        "  DEV.P, DEV.P.X1.U",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("agencies", "add", "dev.x", "Tên"), "mã định danh"),
        (("agencies", "add", "DEV.Y", "Tên", "--parent", "DEV.NONE"), "DEV.NONE"),
        (("agencies", "set-active", "DEV.NONE", "yes"), "DEV.NONE"),
        (("agencies", "add-certificate", "DEV.NONE", "/khong/co.pem"), "/khong/co.pem"),
        (("groups", "add-member", "khong-co", "DEV.NONE"), "khong-co"),
    ],
)
def test_cli_directory_errors_are_one_line(
    engine: Any, database_url: str, args: tuple[str, ...], message: str
) -> None:
    result = run(database_url, *args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("congvan: "), result.stderr
    assert message in lines[0]


# --- over the API ---


def test_api_directory_needs_a_token(client: Any) -> None:
    response = client.get("/api/v1/agencies")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_api_lists_and_shows_agencies(
    client: Any, make_agency: Any, make_user: Any, auth_headers: Any
) -> None:
    tree = deep_tree(make_agency)
    headers = auth_headers(make_user("doc", agency=tree["x2"]))
    listed = client.get("/api/v1/agencies", headers=headers).get_json()["agencies"]
    assert [(a["code"], a["depth"], a["parent_code"]) for a in listed][:3] == [
        ("DEV.P", 0, None),
        ("DEV.P.X1", 1, "DEV.P"),
        ("DEV.P.X1.U", 2, "DEV.P.X1"),
    ]
    shown = client.get("/api/v1/agencies/DEV.P.X1", headers=headers).get_json()
    assert shown["children"] == ["DEV.P.X1.U"] and shown["certificates"] == []
    missing = client.get("/api/v1/agencies/DEV.NONE", headers=headers)
    assert missing.status_code == 404
    assert missing.get_json()["type"].endswith("/not-found")


def test_api_changes_need_an_admin_over_the_agency(
    client: Any, make_agency: Any, make_user: Any, auth_headers: Any
) -> None:
    tree = deep_tree(make_agency)
    clerk = auth_headers(make_user("vt", agency=tree["province"], roles=(Role.CLERK,)))
    admin = auth_headers(make_user("qt", agency=tree["province"], roles=(Role.ADMIN,)))
    body = {"code": "DEV.P.X3", "name": "Xã ba", "parent_code": "DEV.P"}
    refused = client.post("/api/v1/agencies", json=body, headers=clerk)
    assert refused.status_code == 403
    created = client.post("/api/v1/agencies", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"].endswith("/api/v1/agencies/DEV.P.X3")
    patched = client.patch(
        "/api/v1/agencies/DEV.P.X3", json={"name": "Xã Ba", "active": False}, headers=admin
    )
    assert patched.get_json()["name"] == "Xã Ba" and patched.get_json()["active"] is False
    bad = client.post("/api/v1/agencies", json={"code": "x", "name": 3}, headers=admin)
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"name"}
    group = client.post(
        "/api/v1/groups", json={"code": "xa", "name": "Xã", "children_of": "DEV.P"}, headers=admin
    )
    assert group.status_code == 201
    groups = client.get("/api/v1/groups", headers=clerk).get_json()["groups"]
    assert groups == [
        {
            "code": "xa",
            "name": "Xã",
            "children_of": "DEV.P",
            "members": ["DEV.P.X1", "DEV.P.X2", "DEV.P.X3"],
        }
    ]
