"""Numbers stay gap-free and unique when 20 threads or 20 processes issue at the same moment.

Every worker opens its own transaction, waits at a barrier so all start together, takes a number,
holds it a few milliseconds (the signing a real issue does), then either rolls back or commits a
document carrying the number. The committed documents must hold exactly 1..N.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.db import make_engine, make_session_factory
from exchange.enums import DocumentState, RegisterKind
from exchange.models import Agency, Document, Register, StoredFile, User
from exchange.services.registers import take_number

WORKERS = 20
YEAR = 2026
HOLD_SECONDS = 0.02
FILE = "cd" * 32
BARRIER_TIMEOUT = 120.0


def rolls_back(index: int) -> bool:
    """Workers 3, 7, 11, 15 and 19 abandon their issue: 15 of 20 commit."""
    return index % 4 == 3


COMMITTING = sum(not rolls_back(index) for index in range(WORKERS))


def _where(agency_id: int) -> tuple[Any, ...]:
    return (
        Register.agency_id == agency_id,
        Register.kind == RegisterKind.OUTGOING,
        Register.year == YEAR,
        Register.series == "",
    )


def locked_take(session: Session, agency_id: int) -> int:
    return take_number(session, agency_id, RegisterKind.OUTGOING, YEAR)


def naive_take(session: Session, agency_id: int) -> int:
    """Read the counter, then write it back plus one, without locking the row: the bug."""
    last = session.execute(select(Register.last_number).where(*_where(agency_id))).scalar_one()
    session.execute(update(Register).where(*_where(agency_id)).values(last_number=last + 1))
    return int(last) + 1


TAKES: dict[str, Callable[[Session, int], int]] = {"locked": locked_take, "naive": naive_take}


def issue_one(
    factory: sessionmaker[Session],
    agency_id: int,
    user_id: int,
    index: int,
    start: Any,
    take: str,
    record: bool,
) -> int | None:
    """One clerk issuing one document; the number if it was committed, None if rolled back."""
    with factory() as session:
        postgresql = session.get_bind().dialect.name == "postgresql"
        if postgresql:
            # Connected and inside a transaction before the start signal, so the race is real.
            # (SQLite begins IMMEDIATE, which would block here: its workers begin after it.)
            session.execute(text("SELECT 1"))
        start.wait()
        number = TAKES[take](session, agency_id)
        time.sleep(HOLD_SECONDS)
        if rolls_back(index):
            session.rollback()
            return None
        if record:
            session.add(
                Document(
                    public_id=str(uuid.uuid4()),
                    agency_id=agency_id,
                    created_by_id=user_id,
                    state=DocumentState.ISSUED,
                    document_type="Công văn",
                    notation="UBND-VP",
                    subject=f"Văn bản của văn thư số {index}",
                    number=number,
                    number_year=YEAR,
                    issued_at=datetime(YEAR, 6, 1, tzinfo=UTC),
                    original_file=FILE,
                    current_file=FILE,
                )
            )
        session.commit()
        return number


def process_worker(
    url: str,
    agency_id: int,
    user_id: int,
    index: int,
    start: Any,
    results: Any,
    take: str,
    record: bool,
) -> None:
    """A separate process with its own engine (spawned: nothing inherited from the parent)."""
    engine = make_engine(url)
    try:
        number = issue_one(
            make_session_factory(engine), agency_id, user_id, index, start, take, record
        )
        results.put((index, number, None))
    except BaseException as error:
        results.put((index, None, repr(error)))
    finally:
        engine.dispose()


def seed(factory: sessionmaker[Session], with_register: bool = False) -> tuple[int, int]:
    with factory() as session:
        agency = Agency(code="DEV.TPD.000", name="Ủy ban nhân dân huyện Tân Phú Đông")
        user = User(username="vanthu", full_name="Trần Thị Bình", password_hash="-")
        session.add_all([agency, user, StoredFile(sha256=FILE, size=1)])
        session.flush()
        if with_register:
            session.add(Register(agency_id=agency.id, kind=RegisterKind.OUTGOING, year=YEAR))
        session.commit()
        return agency.id, user.id


def run_threads(url: str, agency_id: int, user_id: int, take: str, record: bool) -> list[int]:
    engine = make_engine(url, pool_size=WORKERS, max_overflow=5)
    factory = make_session_factory(engine)
    start = threading.Barrier(WORKERS, timeout=BARRIER_TIMEOUT)
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [
                pool.submit(issue_one, factory, agency_id, user_id, index, start, take, record)
                for index in range(WORKERS)
            ]
            outcomes = [future.result(timeout=BARRIER_TIMEOUT * 2) for future in futures]
    finally:
        engine.dispose()
    return [number for number in outcomes if number is not None]


def run_processes(url: str, agency_id: int, user_id: int, take: str, record: bool) -> list[int]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS, timeout=BARRIER_TIMEOUT)
    results = context.Queue()
    processes = [
        context.Process(
            target=process_worker,
            args=(url, agency_id, user_id, index, start, results, take, record),
        )
        for index in range(WORKERS)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=BARRIER_TIMEOUT * 2) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [error for _, _, error in outcomes if error is not None]
    assert not errors, errors
    assert sorted(index for index, _, _ in outcomes) == list(range(WORKERS))
    return [number for _, number, _ in outcomes if number is not None]


def assert_gap_free(factory: sessionmaker[Session], agency_id: int, committed: list[int]) -> None:
    expected = list(range(1, COMMITTING + 1))
    assert sorted(committed) == expected
    with factory() as session:
        stored = session.scalars(
            select(Document.number).where(Document.agency_id == agency_id).order_by(Document.number)
        ).all()
        register = session.scalars(select(Register).where(*_where(agency_id))).one()
        assert list(stored) == expected
        assert register.last_number == COMMITTING


@pytest.mark.slow
def test_twenty_threads_issue_gap_free_numbers(database_url: str, session_factory: Any) -> None:
    agency_id, user_id = seed(session_factory)
    committed = run_threads(database_url, agency_id, user_id, "locked", record=True)
    assert_gap_free(session_factory, agency_id, committed)


@pytest.mark.slow
def test_twenty_processes_issue_gap_free_numbers(database_url: str, session_factory: Any) -> None:
    agency_id, user_id = seed(session_factory)
    committed = run_processes(database_url, agency_id, user_id, "locked", record=True)
    assert_gap_free(session_factory, agency_id, committed)


@pytest.mark.slow
@pytest.mark.parametrize("runner", [run_threads, run_processes], ids=["threads", "processes"])
def test_the_harness_catches_a_counter_without_a_lock(
    database_url: str, session_factory: Any, runner: Callable[..., list[int]]
) -> None:
    """Control: without the row lock, PostgreSQL gives duplicates under the same harness.

    SQLite is the other way round: its sessions begin IMMEDIATE (one writer at a time), so even
    the unlocked read-then-write stays gap-free there, which this checks too.
    """
    agency_id, user_id = seed(session_factory, with_register=True)
    # Numbers only, no documents: duplicates would otherwise stop at the unique constraint.
    committed = runner(database_url, agency_id, user_id, "naive", record=False)
    assert len(committed) == COMMITTING
    if database_url.startswith("postgresql"):
        assert len(set(committed)) < len(committed), f"no duplicate this time: {sorted(committed)}"
    else:
        assert sorted(committed) == sorted(set(committed)), sorted(committed)
