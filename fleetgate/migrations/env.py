"""Alembic environment: runs on the connection `Database.migrate()` hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from fleetgate.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
