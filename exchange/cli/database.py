"""The command line's one way to its settings and its database.

`load_settings` reads the `CONGVAN_*` settings; `open_session` (and `open_engine`, for the worker)
opens the database they name, or the one given with `--database-url`, after checking what the
command needs of it (a `Need`): the database exists, answers and carries the tables the command
reads. Every refusal is one line and exit 1 (exchange/cli/errors.py). SQLAlchemy is imported
only when a database is opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exchange.actors import Actor
from exchange.cli.errors import fail, first_line
from exchange.config import Settings, file_settings_from_env, settings_from_env

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from signer.trust import TrustSettings

# Who the operator commands act as: their changes are audited with the actor `operator`.
OPERATOR = Actor(user_id=None, username="operator", agency_id=None, agency_code=None)


@dataclass(frozen=True)
class Need:
    """What a command needs of the database before it may use it."""

    tables: tuple[str, ...] = ()
    """The tables it reads; none named: the schema must be at the newest migration."""
    existing_file: bool = False
    """Never create an SQLite file: a command that only reads refuses one that is not there."""
    connect_timeout: int | None = None
    """Seconds to wait for PostgreSQL to answer (default: the driver's)."""


# The service's own database at the newest schema: directory, users, jobs, worker, dev-data.
SERVICE = Need()
# The registers: read only.
REGISTERS = Need(existing_file=True)
# The audit log: whatever the schema's age, as long as its two tables are there.
AUDIT = Need(tables=("audit_events", "audit_head"), existing_file=True, connect_timeout=10)


def load_settings(*, check: bool = True) -> Settings:
    """The settings from the environment, checked unless `check` is false (read-only commands)."""
    settings = settings_from_env()  # a bad value raises ConfigurationError: one line, exit 1
    return settings.check() if check else settings


def load_file_settings() -> Settings:
    """The settings of the commands that sign and verify files (no database, no check)."""
    return file_settings_from_env()  # a bad CONGVAN_ENV raises ConfigurationError: exit 1


def load_file_trust(
    trust_paths: Sequence[Path] = (), settings: Settings | None = None
) -> TrustSettings:
    """A file command's trust roots: `trust_paths`, plus the development root in development."""
    from signer.trust import load_trust

    settings = settings or load_file_settings()
    return load_trust(
        trust_paths,
        development=settings.development,
        dev_pki_dir=settings.effective_dev_pki_dir,
        dev_services=settings.dev_services,
    )


def load_job_settings() -> Settings:
    """The checked settings of a command that runs or inspects background jobs."""
    settings = load_settings()
    if settings.job_lease_seconds <= 0:
        fail("CONGVAN_JOB_LEASE_SECONDS phải là số dương")
    if settings.job_backoff_seconds < 0:
        fail("CONGVAN_JOB_BACKOFF_SECONDS không được âm")
    return settings


@contextmanager
def open_engine(
    settings: Settings | None = None, *, url: str | None = None, need: Need = SERVICE
) -> Iterator[Engine]:
    """The database at `url`, else the one the settings name, once it is fit for `need`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from exchange.db import make_engine

    embedded = False  # the default SQLite file under CONGVAN_DATA_DIR
    if url is None:
        settings = settings or load_settings()
        url, embedded = settings.effective_database_url, not settings.database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"địa chỉ cơ sở dữ liệu không hợp lệ: {url!r}")
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        # SQLite would quietly create an empty file: say instead that there is no database yet.
        database = parsed.database or ""
        if need.existing_file and database in ("", ":memory:"):
            fail(f"cần đường dẫn tệp SQLite trong {shown}")
        if (need.existing_file or embedded) and not Path(database).is_file():
            fail(
                f"chưa có cơ sở dữ liệu {database} (không tìm thấy tệp): "
                "chạy `congvan migrate` (hoặc `congvan serve`)"
            )
    options: dict[str, Any] = {}
    if need.connect_timeout is not None and parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": need.connect_timeout}
    try:
        engine = make_engine(url, **options)
    except Exception:  # an unknown dialect or driver, a malformed option
        fail(f"địa chỉ cơ sở dữ liệu không dùng được: {shown}")
    try:
        try:
            fit = _fit(engine, need)
        except SQLAlchemyError as error:
            fail(f"không kết nối được cơ sở dữ liệu {shown}: {first_line(error)}")
        if not fit and need.tables:
            fail(f"cơ sở dữ liệu {shown} chưa có lược đồ congvan (chạy congvan migrate trước)")
        if not fit:
            fail("cơ sở dữ liệu chưa được nâng cấp lên lược đồ mới nhất: chạy `congvan migrate`")
        yield engine
    finally:
        engine.dispose()


def _fit(engine: Engine, need: Need) -> bool:
    """True when the database has the tables `need` names, or else is at the newest schema."""
    from sqlalchemy import inspect

    from exchange.migrate import pending_revisions

    if need.tables:
        with engine.connect() as connection:
            return set(need.tables) <= set(inspect(connection).get_table_names())
    return not pending_revisions(engine)


@contextmanager
def open_session(
    settings: Settings | None = None, *, url: str | None = None, need: Need = SERVICE
) -> Iterator[Session]:
    """A session on the database `open_engine` opens."""
    from exchange.db import make_session_factory

    with open_engine(settings, url=url, need=need) as engine, make_session_factory(engine)() as s:
        yield s
