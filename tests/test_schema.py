"""The schema comes from the migrations alone, and matches the models on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from exchange.db import Base
from exchange.migrate import pending_revisions


def test_migrations_build_exactly_the_models(engine: Any) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert not pending_revisions(engine)
