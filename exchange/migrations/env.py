"""Alembic environment: run by exchange.migrate with a connection already open."""

from __future__ import annotations

from alembic import context

from exchange import models  # noqa: F401 - registers the tables on Base.metadata
from exchange.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
