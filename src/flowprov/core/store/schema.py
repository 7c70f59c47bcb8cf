"""Schema versions: check a store's revision cheaply, and create or upgrade it with Alembic.

Alembic is imported only when a migration actually runs, so opening an up-to-date store costs one
query. Creating or upgrading a store happens under a lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
a transaction-scoped advisory lock) and in one transaction, so many processes opening the same
fresh store at once leave exactly one schema: the first migrates, the others wait and find it done.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from flowprov.core.exceptions import StoreNeedsMigration

if TYPE_CHECKING:
    from alembic.config import Config

    from flowprov.core.store.connection import Store

# The newest revision in migrations/versions; tests check it equals Alembic's head.
SCHEMA_HEAD = "0005_run_plan_link_config"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "flowprov_alembic_version"
_PG_LOCK_KEY = 7_412_390_551  # arbitrary constant shared by every flowprov process


def schema_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def _upgrade_locked(store: Store, only_if_empty: bool) -> str | None:
    """Upgrade to head inside one locked transaction; return the revision found before.

    What the store holds is judged under the lock, so a process never mistakes another's schema,
    committed a moment ago, for someone else's tables. `only_if_empty` (a store made on first
    use): an up-to-date or outdated store is left as it is, a database holding other tables is refused.
    """
    from alembic import command

    with store.engine.connect() as conn:
        if store.dialect == "sqlite":  # persistent, and outside any transaction; a no-op when set
            conn.exec_driver_sql("PRAGMA journal_mode = WAL")
            conn.commit()
        conn = conn.execution_options(**store.write_options)
        with conn.begin():
            if store.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            before = schema_revision(conn)
            _refuse_unknown(store, conn, before, refuse_other_tables=only_if_empty)
            if before == SCHEMA_HEAD or (only_if_empty and before is not None):
                return before
            command.upgrade(_alembic_config(conn), "head")
    return before


def known_revisions() -> set[str]:
    """Every revision this flowprov's migrations know (read only when a store is not at the head)."""
    found = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        match = re.search(r'^revision\s*=\s*"([^"]+)"', path.read_text(), re.MULTILINE)
        if match:
            found.add(match.group(1))
    return found


def _installed_version() -> str:
    """This flowprov's version, from the installed distribution (the store layer does not import
    the package root, which sits above every layer)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowprov")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _refuse_unknown(store: Store, conn: Connection, revision: str | None, refuse_other_tables: bool = False) -> None:
    """A store this flowprov cannot take over or upgrade: made by a newer flowprov, by someone else,
    or (`refuse_other_tables`, creating a store on first use) a database that holds other tables."""
    url = store.display_url
    if revision is not None and revision not in known_revisions():
        raise StoreNeedsMigration(
            f"store {url} has schema revision {revision!r}, which flowprov {_installed_version()} does not know: "
            "it was made or upgraded by a newer flowprov; upgrade flowprov to use it"
        )
    if revision is not None:
        return
    tables = sorted(inspect(conn).get_table_names())
    if any(t.startswith("flowprov_") for t in tables):
        raise StoreNeedsMigration(
            f"store {url} has flowprov tables but no schema version ({VERSION_TABLE} is missing): "
            "it was not made by flowprov's migrations, so flowprov will not change it"
        )
    if tables and refuse_other_tables:
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise StoreNeedsMigration(
            f"store {url} is not empty ({len(tables)} other table(s): {shown}) and has no flowprov schema: "
            f"run `flowprov init --db {url}` to add flowprov's tables to it"
        )


def ensure_schema(store: Store, create: bool = True) -> None:
    """Make sure the store is at SCHEMA_HEAD: create an empty store, refuse an outdated or foreign one."""
    with store.engine.connect() as conn:
        revision = schema_revision(conn)
        if revision == SCHEMA_HEAD:
            return
        if revision is not None:
            _refuse_unknown(store, conn, revision)
    url = store.display_url
    if revision is None and create:
        revision = _upgrade_locked(store, only_if_empty=True)
        if revision is None or revision == SCHEMA_HEAD:
            return
    if revision is None:
        raise StoreNeedsMigration(f"store {url} has no flowprov schema: run `flowprov init --db {url}`")
    raise StoreNeedsMigration(
        f"store {url} has schema revision {revision!r}, this flowprov expects {SCHEMA_HEAD!r}: "
        f"run `flowprov migrate --db {url}` (back up the store first)"
    )


def migrate(store: Store) -> tuple[str | None, str]:
    """Upgrade the store to the newest schema; returns (revision before, revision after)."""
    before = _upgrade_locked(store, only_if_empty=False)
    return before, SCHEMA_HEAD
