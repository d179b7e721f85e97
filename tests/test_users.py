"""Users, passwords, tokens and who a request acts as; the operator's `users` commands."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from exchange.actors import SYSTEM, Actor
from exchange.audit import verify_chain
from exchange.cli import main
from exchange.enums import Role
from exchange.errors import (
    AuthenticationError,
    ConflictError,
    ExchangeError,
    PermissionDeniedError,
    ValidationError,
)
from exchange.models import ApiToken, AuditEvent, User
from exchange.services.access import actor_for_token, issue_token, login
from exchange.services.users import (
    LOGIN_FAILED,
    authenticate,
    create_user,
    grant,
    set_password,
    set_user_active,
    validate_password,
    validate_username,
)

NOW = datetime(2025, 9, 2, 8, 0, tzinfo=UTC)


# --- pure checks ---


@pytest.mark.parametrize("name", ["a", "tpd.vanthu", "nguyen_van-an2", "x" * 64])
def test_valid_usernames(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize("name", ["", "Tpd", ".x", "an toan", "nguyễn", "x" * 65, "a/b"])
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_username(name)
    assert "username" in caught.value.errors


def test_short_password_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_password("ngan")
    assert "8 ký tự" in caught.value.detail


# --- passwords ---


def test_password_is_stored_as_argon2id(session: Any) -> None:
    user = create_user(session, "an", "mat-khau-rat-dai", full_name="Nguyễn Văn An")
    assert user.password_hash.startswith("$argon2id$")
    assert "mat-khau-rat-dai" not in user.password_hash
    assert authenticate(session, "an", "mat-khau-rat-dai").id == user.id


def test_wrong_password_and_unknown_user_get_the_same_answer(session: Any, make_user: Any) -> None:
    make_user("binh", password="dung-mat-khau")
    with pytest.raises(AuthenticationError) as wrong:
        authenticate(session, "binh", "sai-mat-khau")
    with pytest.raises(AuthenticationError) as unknown:
        authenticate(session, "khong-co-ai", "sai-mat-khau")
    assert wrong.value.detail == unknown.value.detail == LOGIN_FAILED


def test_inactive_user_cannot_sign_in(session: Any, make_user: Any) -> None:
    user = make_user("chi", password="dung-mat-khau")
    set_user_active(session, user, False)
    with pytest.raises(AuthenticationError) as caught:
        authenticate(session, "chi", "dung-mat-khau")
    assert caught.value.detail == LOGIN_FAILED


def test_duplicate_username_refused(session: Any, make_user: Any) -> None:
    make_user("dung")
    with pytest.raises(ConflictError):
        create_user(session, "dung", "mat-khau-khac", full_name="Người khác")


def test_set_password_revokes_tokens(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.U1")
    user = make_user("em", agency="DEV.U1")
    token = issue_token(session, user, "cu")
    set_password(session, user, "mat-khau-moi-1")
    with pytest.raises(AuthenticationError):
        actor_for_token(session, token, None, None)
    assert authenticate(session, "em", "mat-khau-moi-1").id == user.id


# --- tokens ---


def test_only_the_token_digest_is_stored(session: Any, make_user: Any) -> None:
    user = make_user("giang")
    token = issue_token(session, user, "phần mềm QLVB")
    assert len(token) >= 43
    rows = session.scalars(select(ApiToken)).all()
    assert [row.token_sha256 for row in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(value) for row in rows for value in vars(row).values())


def test_login_issues_a_token_and_records_it(
    session: Any, make_agency: Any, make_user: Any
) -> None:
    make_agency("DEV.U2")
    make_user("hoa", agency="DEV.U2", password="dung-mat-khau")
    issued = login(
        session,
        "hoa",
        "dung-mat-khau",
        name="web",
        expires_in=timedelta(hours=1),
        now=NOW,
        remote_addr="10.0.0.7",
    )
    assert issued.expires_at == NOW + timedelta(hours=1)
    actor = actor_for_token(session, issued.token, None, "10.0.0.8", now=NOW)
    assert (actor.username, actor.agency_code, actor.remote_addr) == ("hoa", "DEV.U2", "10.0.0.8")
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).all()
    assert [(e.actor, e.remote_addr) for e in events] == [("hoa", "10.0.0.7")]


def test_failed_login_is_audited_without_the_password(
    session: Any, session_factory: Any, make_user: Any
) -> None:
    make_user("hung", password="dung-mat-khau")
    tries = [
        ("hung", "sai-mat-khau-bi-mat-1"),
        ("khong-co-ai", "sai-mat-khau-bi-mat-2"),
        ("nul\x00", "sai-mat-khau-bi-mat-3"),  # PostgreSQL text cannot hold NUL: no 500
    ]
    for username, password in tries:
        with pytest.raises(AuthenticationError) as caught:
            login(session, username, password, now=NOW, remote_addr="10.0.0.9")
        assert caught.value.detail == LOGIN_FAILED
        session.rollback()  # what the request's teardown does: the entry must survive it
    with session_factory() as fresh:
        events = fresh.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "auth.login_failed")
            .order_by(AuditEvent.id)
        ).all()
        assert [(e.actor, e.remote_addr, e.details) for e in events] == [
            ("anonymous", "10.0.0.9", {"username": "hung"}),
            ("anonymous", "10.0.0.9", {"username": "khong-co-ai"}),
            ("anonymous", "10.0.0.9", {"username": "nul\x00"}),
        ]
        stored = " ".join(str(vars(event)) for event in events)
        assert not any(password in stored for _, password in tries)
        assert fresh.scalars(select(ApiToken)).all() == []
        check = verify_chain(fresh)
        assert check.ok, check.problem
        assert check.head_id == events[-1].id


def test_expired_token_refused(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.U3")
    make_user("khanh", agency="DEV.U3", password="dung-mat-khau")
    issued = login(session, "khanh", "dung-mat-khau", expires_in=timedelta(minutes=5), now=NOW)
    actor_for_token(session, issued.token, None, None, now=NOW + timedelta(minutes=4))
    with pytest.raises(AuthenticationError):
        actor_for_token(session, issued.token, None, None, now=NOW + timedelta(minutes=5))


def test_unknown_token_refused(session: Any) -> None:
    with pytest.raises(AuthenticationError):
        actor_for_token(session, "khong-phai-ma-that", None, None)


# --- which agency a request acts for ---


def test_one_agency_is_implied(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.A")
    user = make_user("lan", agency="DEV.A", roles=(Role.CLERK, Role.OFFICIAL))
    actor = actor_for_token(session, issue_token(session, user), None, None)
    assert actor.agency_code == "DEV.A"
    assert actor.roles == {Role.CLERK, Role.OFFICIAL}


def test_several_agencies_need_the_header(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.A")
    make_agency("DEV.B")
    user = make_user("minh", agency="DEV.A", roles=(Role.CLERK,))
    grant(session, user, session.scalar(select_agency("DEV.B")), Role.OFFICIAL)
    token = issue_token(session, user)
    with pytest.raises(ExchangeError) as caught:
        actor_for_token(session, token, None, None)
    assert caught.value.status == 400
    assert "X-Congvan-Agency" in caught.value.errors
    acting_b = actor_for_token(session, token, "DEV.B", None)
    assert (acting_b.agency_code, acting_b.roles) == ("DEV.B", {Role.OFFICIAL})


def test_token_for_another_agency_refused(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.A")
    make_agency("DEV.C")
    user = make_user("nam", agency="DEV.A")
    with pytest.raises(PermissionDeniedError):
        actor_for_token(session, issue_token(session, user), "DEV.C", None)


def test_inactive_agency_refused(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.OFF", active=False)
    user = make_user("oanh", agency="DEV.OFF")
    with pytest.raises(PermissionDeniedError) as caught:
        actor_for_token(session, issue_token(session, user), None, None)
    assert "ngừng hoạt động" in caught.value.detail


def test_deactivated_user_token_refused(session: Any, make_agency: Any, make_user: Any) -> None:
    make_agency("DEV.A")
    user = make_user("phuc", agency="DEV.A")
    token = issue_token(session, user)
    set_user_active(session, user, False)
    with pytest.raises(AuthenticationError):
        actor_for_token(session, token, None, None)


def test_agency_admin_grants_only_in_their_agency(
    session: Any, make_agency: Any, make_user: Any
) -> None:
    a = make_agency("DEV.A")
    b = make_agency("DEV.B")
    admin = make_user("quan", agency=a, roles=(Role.ADMIN,))
    other = make_user("quynh")
    actor = Actor(admin.id, admin.username, a.id, a.code, frozenset({Role.ADMIN}))
    assert grant(session, other, a, Role.CLERK, actor=actor)
    with pytest.raises(PermissionDeniedError):
        grant(session, other, b, Role.CLERK, actor=actor)
    clerk = Actor(other.id, other.username, a.id, a.code, frozenset({Role.CLERK}))
    with pytest.raises(PermissionDeniedError):
        create_user(session, "moi", "mat-khau-moi-1", full_name="Mới", actor=clerk)


def test_user_creation_is_audited(session: Any, make_agency: Any) -> None:
    agency = make_agency("DEV.A")
    create_user(
        session,
        "sang",
        "mat-khau-rat-dai",
        full_name="Trần Văn Sang",
        roles=[(agency, Role.CLERK)],
        actor=SYSTEM,
    )
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.create")).one()
    assert event.details["username"] == "sang"
    assert event.details["roles"] == ["clerk@DEV.A"]


def select_agency(code: str) -> Any:
    from exchange.models import Agency

    return select(Agency).where(Agency.code == code)


# --- the operator's commands ---


def run(database_url: str, *args: str, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
    runner = CliRunner()
    full_env = {"CONGVAN_ENV": "development", "CONGVAN_DATABASE_URL": database_url, **(env or {})}
    return runner.invoke(main, list(args), env=full_env, catch_exceptions=False, **kwargs)


def test_cli_users_add_grant_and_set_password(
    engine: Any, database_url: str, session: Any, make_agency: Any
) -> None:
    make_agency("DEV.CLI")
    added = run(
        database_url,
        "users",
        "add",
        "tuan",
        "--full-name",
        "Lê Minh Tuấn",
        "--title",
        "Văn thư",
        "--agency",
        "DEV.CLI",
        "--role",
        "clerk",
        "--password-env",
        "MK",
        env={"MK": "mat-khau-dau-tien"},
    )
    assert added.exit_code == 0, added.output
    assert "tuan" in added.stdout
    granted = run(database_url, "users", "grant", "tuan", "DEV.CLI", "official")
    assert granted.exit_code == 0, granted.output
    changed = run(database_url, "users", "set-password", "tuan", input="mat-khau-moi-2\n" * 2)
    assert changed.exit_code == 0, changed.output
    listed = run(database_url, "users", "list")
    assert "tuan  Lê Minh Tuấn, Văn thư  clerk@DEV.CLI, official@DEV.CLI" in listed.stdout
    session.expire_all()
    assert authenticate(session, "tuan", "mat-khau-moi-2").username == "tuan"
    session.rollback()
    actors = session.scalars(
        select(AuditEvent.actor).where(AuditEvent.action.in_(["user.create", "user.grant"]))
    ).all()
    assert actors == ["operator", "operator"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "grant", "khong-co", "DEV.CLI", "clerk"), "không có tài khoản"),
        (("users", "grant", "van", "DEV.NONE", "clerk"), "không có cơ quan mã"),
        (("users", "add", "Sai Ten", "--full-name", "X", "--password-env", "MK"), "tên đăng nhập"),
        (("users", "add", "ngan", "--full-name", "X", "--password-env", "MK"), "ít nhất 8"),
        (("users", "add", "x", "--full-name", "X", "--password-env", "KHONG_CO"), "KHONG_CO"),
        (("users", "add", "y", "--full-name", "Y", "--role", "clerk"), "--agency"),
    ],
)
def test_cli_users_errors_are_one_line(
    engine: Any,
    database_url: str,
    make_agency: Any,
    make_user: Any,
    args: tuple[str, ...],
    message: str,
) -> None:
    make_agency("DEV.CLI")
    make_user("van", agency="DEV.CLI")
    result = run(database_url, *args, env={"MK": "ngan"})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("congvan: "), result.stderr
    assert message in lines[0]


def test_cli_migrate_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'moi.sqlite3'}"
    first = run(url, "migrate")
    assert first.exit_code == 0, first.output
    assert "đã nâng cấp" in first.stdout
    again = run(url, "migrate")
    assert "đã ở phiên bản mới nhất" in again.stdout


def test_cli_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path / 'trong.sqlite3'}", "users", "list")
    assert result.exit_code == 1
    assert "congvan migrate" in result.stderr


def test_cli_on_a_fresh_machine_asks_for_migrate(tmp_path: Path) -> None:
    result = run("", "agencies", "list", env={"CONGVAN_DATA_DIR": str(tmp_path / "moi")})
    assert result.exit_code == 1
    assert "chưa có cơ sở dữ liệu" in result.stderr and "congvan migrate" in result.stderr
    assert not (tmp_path / "moi").exists()


def test_cli_dev_data_load_is_idempotent(engine: Any, database_url: str, session: Any) -> None:
    from signer.devpki import dev_cert_path

    first = run(database_url, "dev-data", "load")
    assert first.exit_code == 0, first.output
    assert "10 cơ quan" in first.stdout
    second = run(database_url, "dev-data", "load")
    assert "không thêm gì" in second.stdout
    production = {
        "CONGVAN_ENV": "production",
        "CONGVAN_SECRET_KEY": "s" * 40,
        # A root outside the development PKI (same names, other keys): the settings pass their
        # check, so what refuses is the data set's own rule.
        "CONGVAN_TRUST_ROOTS": str(dev_cert_path("rogue-root")),
    }
    refused = run(database_url, "dev-data", "load", env=production)
    assert refused.exit_code == 1
    assert "chỉ được nạp ở chế độ development" in refused.stderr
    assert session.scalar(select(User).where(User.username == "tpd.vanthu")) is not None
