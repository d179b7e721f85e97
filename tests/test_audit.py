"""The audit chain: appends link by hash, and any edit, deletion or reordering in the database is
named by `verify_chain` and `congvan audit verify`. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import JSON, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError

from exchange.actors import SYSTEM, Actor
from exchange.audit import (
    GENESIS_HASH,
    ChainCheck,
    compute_hash,
    entry_fields,
    record,
    verify_chain,
)
from exchange.cli import main
from exchange.db import UTCDateTime
from exchange.enums import Role
from exchange.models import AuditEvent, AuditHead

CLERK = Actor(
    user_id=7,
    username="vanthu.tanthoi",
    agency_id=2,
    agency_code="DEV.TPD.X01",
    roles=frozenset({Role.CLERK}),
    remote_addr="203.0.113.5",
)
START = datetime(2025, 3, 14, 1, 2, 3, 456789, tzinfo=UTC)
SUBJECT = "Về việc đẩy mạnh cải cách hành chính"


def append(session_factory: Any, count: int, *, per_transaction: int = 1) -> None:
    """`count` entries, `per_transaction` of them in each committed transaction."""
    index = 0
    while index < count:
        with session_factory() as session:
            for _ in range(min(per_transaction, count - index)):
                record(
                    session,
                    "document.issue",
                    actor=CLERK,
                    document_id=f"doc-{index}",
                    details={"số": index + 1, "trích_yếu": SUBJECT},
                    at=START + timedelta(minutes=index),
                )
                index += 1
            session.commit()


def check(session_factory: Any) -> ChainCheck:
    with session_factory() as session:
        return verify_chain(session)


def tamper(engine: Any, statement: Any, **params: Any) -> None:
    """Change the table behind the service's back, as someone with database access could."""
    with engine.begin() as connection:
        connection.execute(statement if not isinstance(statement, str) else text(statement), params)


def test_appended_entries_link_and_verify(engine: Any, session_factory: Any) -> None:
    append(session_factory, 3)
    append(session_factory, 4, per_transaction=4)  # several appends in one transaction
    result = check(session_factory)
    assert result.ok, result.problem
    assert result.entries == 7 and result.first_broken_id is None
    with session_factory() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        head = session.get(AuditHead, 1)
        assert head is not None
        assert [event.id for event in events] == list(range(1, 8))
        assert events[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(events))
        assert (head.last_id, head.last_hash) == (7, events[-1].entry_hash)
        assert result.head_hash == events[-1].entry_hash
        # What was hashed is what the database gives back, to the microsecond.
        assert events[0].at == START
        assert events[0].details == {"số": 1, "trích_yếu": SUBJECT}
        assert (events[0].actor, events[0].agency_code, events[0].remote_addr) == (
            "vanthu.tanthoi",
            "DEV.TPD.X01",
            "203.0.113.5",
        )


def test_hash_is_recomputable_from_the_documented_form(session_factory: Any) -> None:
    # An auditor's recomputation, written out by hand from the docstring of exchange/audit.py.
    local = START.astimezone(timezone(timedelta(hours=7)))
    with session_factory() as session:
        event = record(
            session,
            "document.issue",
            actor=CLERK,
            document_id="doc-0",
            details={"trích_yếu": SUBJECT, "số": 1, "nơi_nhận": ("DEV.TPD.X02", "DEV.TPD.X03")},
            at=local,
        )
        session.commit()
    expected = (
        '{"action":"document.issue","actor":"vanthu.tanthoi","agency_code":"DEV.TPD.X01",'
        '"at":"2025-03-14T01:02:03.456789Z","details":{"nơi_nhận":["DEV.TPD.X02","DEV.TPD.X03"],'
        f'"số":1,"trích_yếu":"{SUBJECT}"}},"document_id":"doc-0","id":1,'
        f'"prev_hash":"{"0" * 64}","remote_addr":"203.0.113.5","v":1}}'
    )
    assert event.entry_hash == hashlib.sha256(expected.encode("utf-8")).hexdigest()
    assert check(session_factory).ok


def test_record_leaves_the_commit_to_the_caller(session_factory: Any) -> None:
    with session_factory() as session:
        record(session, "document.draft", actor=CLERK, details={"x": 1})
        session.rollback()
    assert check(session_factory) == ChainCheck(ok=True, entries=0)
    with session_factory() as session:
        event = record(session, "document.draft", actor=SYSTEM, agency_code="DEV.TPD.000")
        session.commit()
    assert (event.id, event.prev_hash, event.actor) == (1, GENESIS_HASH, "system")
    assert event.agency_code == "DEV.TPD.000" and event.details == {}
    assert check(session_factory).ok


def test_a_long_lived_session_sees_appends_from_others(session_factory: Any) -> None:
    # Sessions keep objects after commit (expire_on_commit=False): a head the caller still holds
    # must be re-read, not trusted.
    with session_factory() as first, session_factory() as second:
        record(first, "a", actor=CLERK)
        first.commit()
        held = first.get(AuditHead, 1)
        first.commit()
        record(second, "b", actor=CLERK)
        second.commit()
        event = record(first, "c", actor=CLERK)
        first.commit()
    assert event.id == 3 and held is not None and held.last_id == 3
    assert check(session_factory).ok


def test_values_the_canonical_form_cannot_carry_are_refused(session_factory: Any) -> None:
    with session_factory() as session:
        with pytest.raises(TypeError, match="float"):
            record(session, "x", actor=CLERK, details={"size": 1.5})
        with pytest.raises(TypeError, match="not a string"):
            record(session, "x", actor=CLERK, details={1: "a"})  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="naive"):
            record(session, "x", actor=CLERK, at=datetime(2025, 1, 1))
        session.commit()
    assert check(session_factory).entries == 0


def test_edited_details_are_named(engine: Any, session_factory: Any) -> None:
    append(session_factory, 5)
    statement = text("UPDATE audit_events SET details = :details WHERE id = 3").bindparams(
        bindparam("details", type_=JSON)
    )
    tamper(engine, statement, details={"số": 99, "trích_yếu": SUBJECT})
    result = check(session_factory)
    assert not result.ok
    assert result.first_broken_id == 3
    assert result.broken_action == "document.issue"
    assert result.broken_at == START + timedelta(minutes=2)
    assert "#3" in (result.problem or "") and "sửa" in (result.problem or "")
    assert result.entries == 5


def test_a_microsecond_change_of_time_is_named(engine: Any, session_factory: Any) -> None:
    append(session_factory, 4)
    statement = text("UPDATE audit_events SET at = :at WHERE id = 2").bindparams(
        bindparam("at", type_=UTCDateTime())
    )
    tamper(engine, statement, at=START + timedelta(minutes=1, microseconds=1))
    result = check(session_factory)
    assert (result.ok, result.first_broken_id) == (False, 2)


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(
    engine: Any, session_factory: Any
) -> None:
    append(session_factory, 4)
    with session_factory() as session:
        victim = session.get(AuditEvent, 2)
        assert victim is not None
        forged = entry_fields(
            id=2,
            prev_hash=victim.prev_hash,
            at=victim.at,
            actor="someone.else",
            agency_code=victim.agency_code,
            action=victim.action,
            document_id=victim.document_id,
            remote_addr=victim.remote_addr,
            details=victim.details,
        )
    tamper(
        engine,
        "UPDATE audit_events SET actor = 'someone.else', entry_hash = :hash WHERE id = 2",
        hash=compute_hash(forged),
    )
    result = check(session_factory)
    assert (result.ok, result.first_broken_id) == (False, 3)
    assert "không nối tiếp" in (result.problem or "")


def test_swapped_rows_are_named(engine: Any, session_factory: Any) -> None:
    append(session_factory, 4)
    # Reorder by swapping the contents of two entries, hashes included.
    tamper(engine, "UPDATE audit_events SET id = 100 WHERE id = 2")
    tamper(engine, "UPDATE audit_events SET id = 2 WHERE id = 3")
    tamper(engine, "UPDATE audit_events SET id = 3 WHERE id = 100")
    result = check(session_factory)
    assert (result.ok, result.first_broken_id) == (False, 2)


def test_a_deleted_middle_row_is_named(engine: Any, session_factory: Any) -> None:
    append(session_factory, 5)
    tamper(engine, "DELETE FROM audit_events WHERE id = 3")
    result = check(session_factory)
    assert (result.ok, result.first_broken_id, result.entries) == (False, 3, 4)
    assert "thiếu mục #3" in (result.problem or "") and "#4" in (result.problem or "")


def test_a_deleted_tail_is_caught_by_the_head(engine: Any, session_factory: Any) -> None:
    append(session_factory, 5)
    tamper(engine, "DELETE FROM audit_events WHERE id >= 4")
    result = check(session_factory)
    assert (result.ok, result.first_broken_id, result.entries) == (False, 4, 3)
    assert "#4 đến #5" in (result.problem or "") and "cuối" in (result.problem or "")
    tamper(engine, "DELETE FROM audit_events")
    assert check(session_factory).first_broken_id == 1


def test_a_head_moved_back_is_caught(engine: Any, session_factory: Any) -> None:
    append(session_factory, 3)
    tamper(engine, "UPDATE audit_head SET last_id = 2")
    result = check(session_factory)
    assert (result.ok, result.first_broken_id) == (False, 3)


def test_garbled_values_are_refused_or_named(engine: Any, session_factory: Any) -> None:
    # PostgreSQL's types refuse the garbage; SQLite stores it and the verifier names the entry.
    append(session_factory, 3)
    for column, garbage in (("at", "hôm qua"), ("details", "{not json")):
        try:
            tamper(engine, f"UPDATE audit_events SET {column} = :value WHERE id = 2", value=garbage)
        except DBAPIError:
            assert engine.dialect.name == "postgresql"
            continue
        assert engine.dialect.name == "sqlite"
        result = check(session_factory)
        assert (result.ok, result.first_broken_id) == (False, 2)
        assert "đã bị sửa" in (result.problem or "")


def test_concurrent_appends_make_one_contiguous_chain(session_factory: Any) -> None:
    threads_count, each = 8, 12
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        actor = Actor(user_id=worker, username=f"user{worker}", agency_id=1, agency_code="DEV.X")
        try:
            barrier.wait(timeout=30)
            for index in range(each):
                with session_factory() as session:
                    record(session, "document.send", actor=actor, details={"n": index})
                    session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    result = check(session_factory)
    assert result.ok, result.problem
    assert result.entries == threads_count * each
    with session_factory() as session:
        ids = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        rows = session.execute(select(AuditEvent.actor, func.count()).group_by(AuditEvent.actor))
        per_actor = {actor: count for actor, count in rows}
    assert ids == list(range(1, threads_count * each + 1))
    assert per_actor == {f"user{worker}": each for worker in range(threads_count)}


# --- congvan audit ---


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["audit", *args], env=env)


def test_cli_verify_reports_an_intact_chain(database_url: str, session_factory: Any) -> None:
    append(session_factory, 3)
    result = run_cli("verify", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "Chuỗi nhật ký toàn vẹn: 3 mục" in result.stdout
    # The URL may also come from the environment.
    result = run_cli("verify", "--json", env={"CONGVAN_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == check(session_factory).to_dict()
    assert json.loads(result.stdout)["entries"] == 3


def test_cli_verify_names_the_broken_entry(
    database_url: str, engine: Any, session_factory: Any
) -> None:
    append(session_factory, 4)
    tamper(engine, "UPDATE audit_events SET action = 'document.recall' WHERE id = 2")
    result = run_cli("verify", "--database-url", database_url)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line
    assert "#2" in line and "14/03/2025 08:03:03" in line and "document.recall" in line
    result = run_cli("verify", "--json", "--database-url", database_url)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_broken_id"]) == (False, 2)
    assert report["broken_at"] == "2025-03-14T01:03:03.456789Z"
    # The installed entry point, in its own process, gives the same exit status.
    process = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "audit", "verify", "--database-url", database_url],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        timeout=120,
    )
    assert process.returncode == 1, process.stderr
    assert "#2" in process.stderr and "Traceback" not in process.stderr


def test_cli_list_shows_entries(database_url: str, session_factory: Any) -> None:
    append(session_factory, 3)
    result = run_cli("list", "--database-url", database_url, "--document", "doc-1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("#2 14/03/2025 08:03:03 vanthu.tanthoi@")
    result = run_cli("list", "--database-url", database_url, "--limit", "2", "--json")
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [2, 3]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://congvan@127.0.0.1:1/congvan", "không kết nối được"),
        ("not a url", "không hợp lệ"),
        ("nosuchdb://x/y", "không dùng được"),
    ],
)
def test_cli_unusable_database_gives_one_line(url: str, expected: str) -> None:
    result = run_cli("verify", "--database-url", url)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("congvan: ") and expected in lines[0]


def test_cli_missing_or_unmigrated_sqlite(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    result = run_cli("verify", "--database-url", f"sqlite:///{missing}")
    assert result.exit_code == 1 and "không tìm thấy" in result.stderr
    assert not missing.exists()  # verifying must not create an empty database
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")  # a valid SQLite database with no tables
    result = run_cli("verify", "--database-url", f"sqlite:///{empty}")
    assert result.exit_code == 1
    assert "chưa có lược đồ" in result.stderr and len(result.stderr.strip().splitlines()) == 1
