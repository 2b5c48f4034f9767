"""Alembic environment: always run with a connection handed in by control.db (no ini file,
no URL here), so migrations run in-process from `lgsp` commands and tests alike."""

from __future__ import annotations

from alembic import context

from control.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through control.db.upgrade(), which passes a connection")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
