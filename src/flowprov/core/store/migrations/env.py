"""Alembic environment: migrations always run on a connection flowprov hands over, inside its
locked transaction (see flowprov.core.store.schema)."""

from alembic import context

from flowprov.core.registry import Base
from flowprov.core.store.schema import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run flowprov migrations through `flowprov migrate`, not the alembic command")

context.configure(
    connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE, render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
