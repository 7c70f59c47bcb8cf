"""Alembic environment: migrations always run on a connection flowprov hands over, inside its
locked transaction (see flowprov.core.store.schema)."""

from alembic import context

from flowprov.core.store.model import Model
from flowprov.core.store.schema import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run flowprov migrations through `flowprov migrate`, not the alembic command")

# The record classes add their tables to Model.metadata when the registry is imported; only
# autogenerate compares against it (tests/core/test_store.py does, with the registry loaded): an
# upgrade runs the revision files' own operations, so the migrations never import the registry.
context.configure(
    connection=connection, target_metadata=Model.metadata, version_table=VERSION_TABLE, render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
