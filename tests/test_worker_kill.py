"""`congvan worker` as a process: killed mid fan-out, restarted, every delivery judged once.

Also the worker and jobs commands' answers to an operator (clean stop, unmigrated database).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from exchange.cli.operations import jobs_group
from exchange.enums import DeliveryStatus, DocumentState, JobState
from exchange.jobs import enqueue
from exchange.models import (
    Agency,
    Delivery,
    DeliveryEvent,
    Document,
    Job,
    Receipt,
    StoredFile,
    User,
    VerificationRecord,
)
from exchange.storage import LocalFileStore
from signer.credentials import load_credential
from signer.devpki import DEV_PASSPHRASE, dev_p12_path
from signer.signing import SignOptions, sign_pdf
from tests.support.cli import run_cli

MAILBOXES = 30
LEASE_SECONDS = 3
RECEIVERS = ["tanthoi", "tanphu", "phuthanh", "phudong", "phutan", "tanthanh", "vp", "tckh"]
ARRIVAL = (DeliveryStatus.ARRIVED, DeliveryStatus.REFUSED)


@dataclass(frozen=True)
class FanOut:
    env: dict[str, str]
    delivery_ids: list[int]


def signed_document(sample_pdf: Path, folder: Path) -> Path:
    """The sample signed by the district chairman, then by the district's agency key."""
    official = load_credential(dev_p12_path("official-tpd-chutich"), DEV_PASSPHRASE)
    agency = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    first, second = folder / "official.pdf", folder / "issued.pdf"
    sign_pdf(sample_pdf, first, official, SignOptions(field_name="ChuKyLanhDao"))
    sign_pdf(first, second, agency, SignOptions(field_name="ChuKyCoQuan"))
    return second


@pytest.fixture
def fan_out(session_factory: Any, database_url: str, sample_pdf: Path, tmp_path: Path) -> FanOut:
    """One issued document sent to many mailboxes: deliveries pending, one verify job each."""
    store = LocalFileStore(tmp_path / "files")
    sha256, size = store.put_file(signed_document(sample_pdf, tmp_path))
    with session_factory() as session:
        sender = Agency(
            code="DEV.TPD.000",
            name="UBND huyện Tân Phú Đông",
            credential=str(dev_p12_path("agency-tpd")),
        )
        clerk = User(username="vanthu.tpd", full_name="Văn thư huyện", password_hash="-")
        session.add_all([sender, clerk, StoredFile(sha256=sha256, size=size)])
        session.flush()
        document = Document(
            public_id=str(uuid.uuid4()),
            agency_id=sender.id,
            created_by_id=clerk.id,
            state=DocumentState.SENT,
            document_type="Công văn",
            notation="UBND-VP",
            subject="Về việc đẩy mạnh cải cách hành chính",
            number=12,
            number_year=2025,
            original_file=sha256,
            current_file=sha256,
        )
        session.add(document)
        session.flush()
        delivery_ids = []
        for number in range(MAILBOXES):
            label = RECEIVERS[number % len(RECEIVERS)]
            mailbox = Agency(
                code=f"DEV.TPD.K{number:02d}",
                name=f"Hộp thư thử nghiệm {number:02d}",
                parent_id=sender.id,
                credential=str(dev_p12_path(f"agency-{label}")),
            )
            session.add(mailbox)
            session.flush()
            delivery = Delivery(
                public_id=str(uuid.uuid4()),
                document_id=document.id,
                recipient_id=mailbox.id,
                status=DeliveryStatus.PENDING,
            )
            session.add(delivery)
            session.flush()
            session.add(DeliveryEvent(delivery_id=delivery.id, status=DeliveryStatus.PENDING))
            enqueue(session, "verify_delivery", {"delivery_id": delivery.id})
            delivery_ids.append(delivery.id)
        session.commit()
    env = {
        **os.environ,
        "CONGVAN_ENV": "development",
        "CONGVAN_DATABASE_URL": database_url,
        "CONGVAN_DATA_DIR": str(tmp_path / "data"),
        "CONGVAN_STORAGE_DIR": str(tmp_path / "files"),
        "CONGVAN_VERIFY_OFFLINE": "1",
        "CONGVAN_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "CONGVAN_JOB_BACKOFF_SECONDS": "1",
    }
    return FanOut(env=env, delivery_ids=delivery_ids)


@pytest.fixture
def observer(database_url: str, engine: Any) -> Iterator[Engine]:
    """Reads that never wait for a writer (no BEGIN IMMEDIATE), to watch a worker at work."""
    watching = create_engine(database_url)
    yield watching
    watching.dispose()


def start_worker(env: dict[str, str], name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "worker", "--id", name, "--idle-sleep", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def judged(observer: Engine) -> int:
    with observer.connect() as connection:
        query = select(func.count()).select_from(Delivery)
        return int(connection.scalar(query.where(Delivery.status != DeliveryStatus.PENDING)) or 0)


def running_jobs(observer: Engine, worker: str) -> list[int]:
    with observer.connect() as connection:
        query = select(Job.id).where(Job.state == JobState.RUNNING, Job.locked_by == worker)
        return list(connection.scalars(query))


def done_jobs(observer: Engine) -> int:
    with observer.connect() as connection:
        query = select(func.count()).select_from(Job).where(Job.state == JobState.DONE)
        return int(connection.scalar(query) or 0)


def wait_stopped(pid: int) -> None:
    """Until the kernel reports the process stopped (SIGSTOP has taken effect)."""
    for _ in range(500):
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                return
        time.sleep(0.01)
    raise AssertionError("worker did not stop")


def kill_mid_job(process: subprocess.Popen[str], observer: Engine, name: str) -> None:
    """SIGKILL the worker while it holds a claimed, unfinished job and work is still pending."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}: {process.stderr.read()}")
        done = judged(observer)
        if done >= MAILBOXES:
            pytest.fail("the worker finished every delivery before it could be killed")
        if done >= 3 and running_jobs(observer, name):
            # Freeze it, then make sure the frozen process still holds an unfinished job.
            os.kill(process.pid, signal.SIGSTOP)
            wait_stopped(process.pid)
            time.sleep(0.2)  # let a commit already on the wire land before looking
            if running_jobs(observer, name) and judged(observer) < MAILBOXES:
                process.kill()
                process.wait(timeout=30)
                return
            os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("the worker never reached the middle of the fan-out")


def test_killed_worker_mid_fan_out_loses_nothing_and_repeats_nothing(
    fan_out: FanOut, observer: Engine, session_factory: Any
) -> None:
    first = start_worker(fan_out.env, "first")
    try:
        kill_mid_job(first, observer, "first")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    abandoned = running_jobs(observer, "first")
    assert len(abandoned) == 1
    judged_by_first = judged(observer)
    assert 3 <= judged_by_first < MAILBOXES

    second = start_worker(fan_out.env, "second")
    try:
        deadline = time.monotonic() + 180
        # The abandoned job waits for its lease to run out, then the new worker takes it.
        while done_jobs(observer) < MAILBOXES:
            assert second.poll() is None, second.stderr.read() if second.stderr else ""
            assert time.monotonic() < deadline, "the restarted worker did not finish"
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr
    assert "đã dừng" in stderr

    with session_factory() as session:
        for delivery_id in fan_out.delivery_ids:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            assert delivery.status in ARRIVAL
            arrivals = [event for event in delivery.events if event.status in ARRIVAL]
            assert len(arrivals) == 1, f"delivery {delivery_id}: {len(arrivals)} arrival events"
            records = session.scalar(
                select(func.count())
                .select_from(VerificationRecord)
                .where(VerificationRecord.delivery_id == delivery_id)
            )
            receipts = session.scalar(
                select(func.count()).select_from(Receipt).where(Receipt.delivery_id == delivery_id)
            )
            assert (records, receipts) == (1, 1)
        jobs = list(session.scalars(select(Job).order_by(Job.id)))
    assert len(jobs) == MAILBOXES
    assert all(job.state == JobState.DONE for job in jobs)
    by_first = [job for job in jobs if job.locked_by == "first"]
    by_second = [job for job in jobs if job.locked_by == "second"]
    assert len(by_first) == judged_by_first
    assert len(by_first) + len(by_second) == MAILBOXES
    assert {job.attempts for job in by_first} == {1}
    reclaimed = [job for job in by_second if job.id == abandoned[0]]
    assert [job.attempts for job in reclaimed] == [2]
    assert {job.attempts for job in by_second if job.id != abandoned[0]} == {1}


def test_worker_once_and_jobs_commands(
    session_factory: Any, database_url: str, tmp_path: Path, runner: CliRunner
) -> None:
    with session_factory() as session:
        job = enqueue(session, "gui_fax", {"to": "xã Tân Thới"})
        session.commit()
    env = {
        **os.environ,
        "CONGVAN_ENV": "development",
        "CONGVAN_DATABASE_URL": database_url,
        "CONGVAN_DATA_DIR": str(tmp_path / "data"),
    }
    result = run_cli("worker", "--once", "--id", "once", environ=env)
    assert result.returncode == 0, result.stderr
    assert "đã xử lý 1 công việc" in result.stderr

    listed = runner.invoke(jobs_group, ["list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "thất bại: 1" in listed.output
    assert f"#{job.id} gui_fax" in listed.output
    assert "không có bộ xử lý cho loại công việc 'gui_fax'" in listed.output

    retried = runner.invoke(jobs_group, ["retry", str(job.id)], env=env)
    assert retried.exit_code == 0, retried.output
    with session_factory() as session:
        again = session.get(Job, job.id)
        assert again is not None and (again.state, again.attempts) == (JobState.QUEUED, 0)
    twice = runner.invoke(jobs_group, ["retry", str(job.id)], env=env)
    assert twice.exit_code == 1
    assert "chỉ thử lại được công việc đã thất bại" in twice.output
    missing = runner.invoke(jobs_group, ["retry", "999999"], env=env)
    assert missing.exit_code == 1
    assert "không có công việc số 999999" in missing.output


def test_worker_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CONGVAN_ENV": "development",
        "CONGVAN_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    }
    result = run_cli("worker", "--once", environ=env)
    assert result.returncode == 1
    assert "chưa được nâng cấp" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_refuses_a_database_it_cannot_reach(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CONGVAN_ENV": "development",
        "CONGVAN_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'folder' / 'db.sqlite3'}",
    }
    result = run_cli("worker", environ=env)
    assert result.returncode == 1
    assert "không kết nối được cơ sở dữ liệu" in result.stderr
    assert "Traceback" not in result.stderr
