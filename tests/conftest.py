"""Shared fixtures: sample documents, the development trust services over real HTTP, the exchange's
database and app, a small exchange to work in (`world`), trust, and the command line (`runner`).

Helpers that are not fixtures live in tests/support/.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from asn1crypto import x509
    from click.testing import CliRunner
    from flask import Flask
    from flask.testing import FlaskClient
    from pyhanko.sign import signers
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from exchange.models import Agency, User
    from exchange.runtime import Runtime
    from signer.credentials import Credential
    from signer.devpki import DevServices
    from signer.trust import TrustSettings
    from tests.support.world import World

DATA_DIR = Path(__file__).parent / "data"
DEV_SERVICES_HOST = "127.0.0.1"
DEV_SERVICES_PORT = 8790  # the built-in port, which the development certificates name
DEV_SERVICES_ENV = "CONGVAN_DEV_SERVICES_URL"  # signer.devpki.DEV_SERVICES_ENV

# Tests run in development mode: the development root is trusted there and nowhere else.
os.environ.setdefault("CONGVAN_ENV", "development")


def _services_answer(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/congvan-dev/crls/ca/latest.crl", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((DEV_SERVICES_HOST, port))
        except OSError:
            return False
        return True


def _start_dev_services(port: int, log: IO[str]) -> tuple[subprocess.Popen[str], str | None]:
    """`congvan dev-pki serve --port PORT`, and the base URL it prints once listening."""
    command = [sys.executable, "-m", "exchange.cli", "dev-pki", "serve", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    watchdog = threading.Timer(60, process.kill)  # never wait forever for the first line
    watchdog.start()
    try:
        line = process.stdout.readline().strip()
    finally:
        watchdog.cancel()
    return process, line or None


@pytest.fixture(scope="session")
def dev_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The development TSA, OCSP and CRL for this run; yields their base URL.

    CONGVAN_DEV_SERVICES_URL set: the services running there (they must answer). Otherwise the
    run starts its own, which only this run stops: on the built-in port 8790 when it is free, so
    that clients congvan cannot redirect (poppler's pdfsig asking the OCSP URL written in the
    certificates) reach them too, else on a free port, so parallel runs never share or stop each
    other's server. The variable is set for the run and inherited by its subprocesses (congvan
    serve, congvan worker, gunicorn), whose requests to the built-in address then go there.
    """
    configured = os.environ.get(DEV_SERVICES_ENV, "").strip().rstrip("/")
    if configured:
        if not _services_answer(configured):
            pytest.fail(f"{DEV_SERVICES_ENV}={configured} does not answer as the dev services")
        yield configured
        return
    log_path = tmp_path_factory.mktemp("dev-services") / "dev-pki.log"
    with log_path.open("w") as log:
        process, base = None, None
        for port in (DEV_SERVICES_PORT, 0) if _port_free(DEV_SERVICES_PORT) else (0,):
            process, base = _start_dev_services(port, log)
            if base is not None:
                break
            process.wait(timeout=10)  # taken between the check and the bind: a free port then
        assert process is not None
        try:
            if base is None:
                pytest.fail(f"dev-pki serve did not start: {log_path.read_text()}")
            deadline = time.monotonic() + 30
            while not _services_answer(base):
                if process.poll() is not None:
                    pytest.fail(f"dev-pki serve exited with {process.returncode}")
                if time.monotonic() > deadline:
                    pytest.fail("dev-pki serve did not answer within 30 s")
                time.sleep(0.1)
            os.environ[DEV_SERVICES_ENV] = base
            yield base
        finally:
            os.environ.pop(DEV_SERVICES_ENV, None)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="session")
def dev(dev_services: str) -> DevServices:
    """The run's development services as the library is told of them (signer/devpki.py).

    The library reads no environment variable: a test that signs above B-B with the development
    TSA, verifies online or relies on relocation passes `development=True, dev_services=dev`
    (tests/support/devservices.py), so it reaches the run's services on whatever port they run.
    """
    from signer.devpki import DevServices

    return DevServices(dev_services)


@pytest.fixture(scope="session")
def dev_trust(dev: DevServices) -> TrustSettings:
    """The development root, trusted in development; online checks go to the run's services."""
    from tests.support.devservices import development_trust

    return development_trust(dev)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The folder of unsigned sample documents in the official layout."""
    return DATA_DIR


@pytest.fixture(scope="session")
def sample_pdf() -> Path:
    """A one-page unsigned official letter (công văn)."""
    return DATA_DIR / "cong-van-cai-cach-hanh-chinh.pdf"


@pytest.fixture(scope="session")
def multipage_pdf() -> Path:
    """A three-page unsigned decision (quyết định)."""
    return DATA_DIR / "quyet-dinh-quy-che-van-ban-dien-tu.pdf"


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory: pytest.TempPathFactory, dev_services: str) -> str:
    """A fresh NSS database trusting only the development root, for poppler's pdfsig.

    pdfsig asks the OCSP responder the development certificates name, 127.0.0.1:8790, and
    cannot be sent elsewhere (even with -no-ocsp, poppler 22 then calls the chain unknown): the
    run's own services hold that port when it was free, else whatever holds it must be the
    development services of another run.
    """
    from signer.devpki import dev_root_path

    built_in = f"http://{DEV_SERVICES_HOST}:{DEV_SERVICES_PORT}"
    if not _services_answer(built_in):
        pytest.fail(
            f"pdfsig needs the development services at {built_in} (the OCSP URL in the "
            f"certificates), but that port is held by something else; this run's are at "
            f"{dev_services}"
        )

    for tool in ("certutil", "pdfsig", "pdftoppm", "pdftotext"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install libnss3-tools poppler-utils"
    directory = tmp_path_factory.mktemp("nss")
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "--empty-password", "-d", db], check=True)
    subprocess.run(
        ["certutil", "-A", "-n", "root", "-t", "CT,C,C", "-i", str(dev_root_path()), "-d", db],
        check=True,
    )
    return db


# --- The exchange's database: every test using `engine` runs on SQLite and on PostgreSQL. ---

POSTGRES_ADMIN_URL = os.environ.get(
    "CONGVAN_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)


def _fresh_postgres_database() -> tuple[str, Engine]:
    """Create an empty database for this run on the machine's PostgreSQL server (never skipped)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"congvan_test_{os.getpid()}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # the suite must fail, not skip, when PostgreSQL is missing
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is required for the tests: {error}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    return url.render_as_string(hide_password=False), admin


def _drop_postgres_database(admin: Engine, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database URL, once per backend for the whole run."""
    from exchange.db import make_engine
    from exchange.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'congvan.sqlite3'}"
        admin = None
    else:
        url, admin = _fresh_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if admin is not None:
            _drop_postgres_database(admin, url.rsplit("/", 1)[1])


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The run's database, emptied after each test (the schema stays, built by migrations)."""
    from sqlalchemy import text

    from exchange.db import Base, make_engine

    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        tables = [
            table.name
            for table in reversed(Base.metadata.sorted_tables)
            if table.name != "audit_head"
        ]
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                joined = ", ".join(f'"{name}"' for name in tables)
                connection.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    connection.execute(text(f'DELETE FROM "{name}"'))
            # The migration seeds the audit chain's head; put it back as the migration left it.
            connection.execute(
                text("UPDATE audit_head SET last_id = 0, last_hash = :genesis"),
                {"genesis": "0" * 64},
            )
        engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    from exchange.db import make_session_factory

    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


# --- The service shell: app, client, runtime, and factories for agencies and users. ---
# (exchange/app.py, exchange/services/users.py, access.py, directory.py)

TEST_PASSWORD = "mat-khau-thu-nghiem"
_password_hashes: dict[str, str] = {}


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, dev_services: str) -> Runtime:
    """A development runtime on the run's database, with files under a fresh folder.

    Its settings say where the run's development services answer (CONGVAN_DEV_SERVICES_URL).
    """
    from exchange.config import Settings
    from exchange.runtime import make_runtime

    settings = Settings(
        env="development",
        data_dir=tmp_path / "data",
        database_url=database_url,
        dev_services_url=dev_services,
    )
    return make_runtime(settings.check())


@pytest.fixture
def app(engine: Engine, runtime: Runtime) -> Iterator[Flask]:
    """The Flask application on the run's database (emptied after the test by `engine`)."""
    from exchange.api.context import EXTENSION
    from exchange.app import create_app

    application = create_app(runtime.settings, runtime=runtime)
    application.config["TESTING"] = True
    try:
        yield application
    finally:
        application.extensions[EXTENSION].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_agency(session: Session) -> Callable[..., Agency]:
    """`make_agency(code, name=None, parent=None, active=True)` → a committed Agency."""
    from exchange.actors import SYSTEM
    from exchange.services.directory import new_agency

    def make(
        code: str, name: str | None = None, parent: Agency | str | None = None, active: bool = True
    ) -> Agency:
        parent_code = parent if isinstance(parent, str) or parent is None else parent.code
        agency = new_agency(session, SYSTEM, code, name or f"Cơ quan {code}", parent_code)
        agency.active = active
        session.commit()
        return agency

    return make


@pytest.fixture
def make_user(session: Session) -> Callable[..., User]:
    """`make_user(username, agency=None, roles=("clerk",), password=TEST_PASSWORD, ...)` → User.

    `agency` is an Agency or a code; the user holds `roles` there (and nothing without one).
    """
    from sqlalchemy import select

    from exchange.enums import Role
    from exchange.models import Agency
    from exchange.services.users import add_membership, hash_password, new_user

    def make(
        username: str,
        agency: Agency | str | None = None,
        roles: str | Role | Iterable[str | Role] = (Role.CLERK,),
        password: str = TEST_PASSWORD,
        full_name: str | None = None,
        title: str = "",
        credential: str | None = None,
        signature_image: str | None = None,
    ) -> User:
        if password not in _password_hashes:  # Argon2 costs ~0.1 s: once per password per run
            _password_hashes[password] = hash_password(password)
        user = new_user(
            session,
            username,
            full_name=full_name or f"Người dùng {username}",
            password_hash=_password_hashes[password],
            title=title,
            credential=credential,
            signature_image=signature_image,
        )
        if isinstance(agency, str):
            agency = session.scalar(select(Agency).where(Agency.code == agency))
        if agency is not None:
            for role in [roles] if isinstance(roles, str) else roles:
                add_membership(session, user, agency, Role(role))
        session.commit()
        return user

    return make


@pytest.fixture
def auth_headers(session: Session) -> Callable[..., dict[str, str]]:
    """`auth_headers(user, agency_code=None)` → headers with a fresh bearer token for `user`."""
    from exchange.services.access import issue_token

    def make(user: User, agency_code: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {issue_token(session, user, 'test')}"}
        if agency_code:
            headers["X-Congvan-Agency"] = agency_code
        return headers

    return make


# --- A real PKCS#11 module: SoftHSM2 tokens with development keys (tests/support/softhsm.py). ---


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The SoftHSM2 module path, its tokens holding the RSA and ECDSA dev keys and certificates.

    One per run: python-pkcs11 loads the module once per process, reading its configuration then.
    """
    from tests.support.softhsm import softhsm_tokens

    yield from softhsm_tokens(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="session")
def slow_pdf(tmp_path_factory: pytest.TempPathFactory, sample_pdf: Path) -> bytes:
    """A signed letter with an update of 20000 objects after the signature: about a second's work
    for the verifier, ten times the limit the tests set."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from signer.credentials import load_credential
    from signer.devpki import DEV_PASSPHRASE, dev_p12_path
    from signer.signing import SignOptions, sign_pdf

    credential = load_credential(dev_p12_path("agency-tpd"), DEV_PASSPHRASE)
    signed = tmp_path_factory.mktemp("slow") / "signed.pdf"
    sign_pdf(sample_pdf, signed, credential, SignOptions(level="b-b"))
    writer = IncrementalPdfFileWriter(io.BytesIO(signed.read_bytes()))
    added = generic.ArrayObject(
        writer.add_object(
            generic.DictionaryObject({generic.NameObject("/N"): generic.NumberObject(i)})
        )
        for i in range(20_000)
    )
    writer.root[generic.NameObject("/Extra")] = writer.add_object(added)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- Trust, the development root, and the command line in this process. ---


@pytest.fixture(scope="session")
def trust() -> TrustSettings:
    """The development root, trusted because tests run in development mode."""
    from signer.trust import load_trust

    return load_trust(development=True)


def _credential(label: str) -> Credential:
    from signer.credentials import load_credential
    from signer.devpki import DEV_PASSPHRASE, dev_p12_path

    return load_credential(dev_p12_path(label), DEV_PASSPHRASE)


def _pyhanko_signer(label: str) -> signers.SimpleSigner:
    from signer.devpki import DEV_PASSPHRASE, dev_p12_path
    from tests.support.attacks import load_p12_signer

    return load_p12_signer(dev_p12_path(label), DEV_PASSPHRASE)


@pytest.fixture(scope="session")
def official() -> Credential:
    """The district's vice-chairwoman (ECDSA P-256), who signs drafts in the tests."""
    return _credential("official-tpd-phochutich")


@pytest.fixture(scope="session")
def agency() -> Credential:
    """The district committee's agency key (RSA-2048), which issues."""
    return _credential("agency-tpd")


@pytest.fixture(scope="session")
def tpd() -> signers.SimpleSigner:
    """The district committee's agency key as plain pyHanko loads it ("another tool")."""
    return _pyhanko_signer("agency-tpd")


@pytest.fixture(scope="session")
def chairman() -> signers.SimpleSigner:
    """The district's chairman as plain pyHanko loads him ("another tool")."""
    return _pyhanko_signer("official-tpd-chutich")


@pytest.fixture(scope="session")
def dev_root() -> x509.Certificate:
    """The development root certificate, for pyHanko's own validation context."""
    from asn1crypto import pem, x509

    from signer.devpki import dev_root_path

    return x509.Certificate.load(pem.unarmor(dev_root_path().read_bytes())[2])


@pytest.fixture
def runner() -> CliRunner:
    """click's runner: a command of `exchange.cli` invoked in this process."""
    from click.testing import CliRunner

    return CliRunner()


# --- A small exchange to work in: tests/support/world.py. ---


@pytest.fixture
def world(session_factory: sessionmaker[Session], tmp_path: Path, dev_services: str) -> World:
    """The district, its communes, people and keys, with a runtime of its own under tmp_path.

    Its settings say where the run's development services answer (CONGVAN_DEV_SERVICES_URL).
    """
    from tests.support.world import build_world

    return build_world(session_factory, tmp_path, dev_services_url=dev_services)


@pytest.fixture
def app_world(session_factory: sessionmaker[Session], runtime: Runtime) -> World:
    """The same exchange on the runtime of `app`, for tests through the API."""
    from tests.support.world import build_world

    return build_world(session_factory, runtime.settings.data_dir, runtime)


@pytest.fixture
def headers(
    app_world: World, session_factory: sessionmaker[Session]
) -> Callable[[str], dict[str, str]]:
    """`headers(username)` → the headers of a fresh bearer token for a person of `app_world`."""
    from sqlalchemy import select

    from exchange.models import User
    from exchange.services.access import issue_token

    def make(username: str) -> dict[str, str]:
        with session_factory() as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            token = issue_token(session, user, "test")
            session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make
