"""SQLAlchemy engines for the two kinds of store, with the settings each needs.

SQLite: WAL journal (set once, when flowprov creates the schema: the mode is kept in the file, and
opening someone else's database must not change it), a long busy timeout, foreign keys on, and `BEGIN IMMEDIATE` for writes, so
many processes can write one file: a writer takes the write lock up front instead of failing
halfway through a transaction when another writer got there first. Reads run in autocommit mode
so no process holds an old snapshot open between queries.

PostgreSQL (psycopg 3): autocommit for reads, READ COMMITTED transactions for writes.

Read-only engines (for viewers such as `flowprov ui`): SQLite opens the file with `mode=ro`, so
the database itself refuses every write; PostgreSQL sessions start with
`default_transaction_read_only`, so every transaction is read-only.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from flowprov.core.redaction import redacting_json_dumps

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_S = 60
# Connection execution options that open a write transaction, by dialect.
WRITE_OPTIONS: dict[str, dict[str, Any]] = {
    "sqlite": {"flowprov_write": True},
    "postgresql": {"isolation_level": "READ COMMITTED"},
}
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "fuse.sshfs", "beegfs", "ceph"}


def normalize_url(url_or_path: str | os.PathLike) -> str:
    """An SQLAlchemy URL for a URL or a plain file path (`~` and relative paths resolved)."""
    text = os.fspath(url_or_path)
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    url = make_url(text)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url.render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def is_in_memory(url: str) -> bool:
    """True for an SQLite store that lives only as long as the process (`sqlite://`, `:memory:`)."""
    sa_url = make_url(normalize_url(url))
    return sa_url.get_backend_name() == "sqlite" and sa_url.database in (None, "", ":memory:")


def driver_reason(exc: BaseException) -> str:
    """The driver's own reason for a failed connection or statement, in one line.

    psycopg's messages run over several lines ('connection to server at ... failed: FATAL: ...');
    the part after the last FATAL/failed is what a person needs.
    """
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    for marker in ("FATAL:", "failed:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1].strip()
            break
    return text.split(" (Background on this error", 1)[0] or type(exc).__name__


def filesystem_type(path: Path) -> str | None:
    """The type of the file system `path` is on, from /proc/mounts (Linux only)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and (target == parts[1] or target.startswith(parts[1].rstrip("/") + "/")):
            if len(parts[1]) > len(best):
                best, best_type = parts[1], parts[2]
    return best_type


def make_engine(url: str, read_only: bool = False) -> Engine:
    sa_url = make_url(url)
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        return _make_sqlite_engine(url, sa_url.database, read_only)
    if backend == "postgresql":
        if read_only:
            options = (str(sa_url.query.get("options", "")) + " -c default_transaction_read_only=on").strip()
            url = sa_url.update_query_dict({"options": options}).render_as_string(hide_password=False)
        return create_engine(
            url, isolation_level="AUTOCOMMIT", pool_pre_ping=True, json_serializer=redacting_json_dumps
        )
    raise ValueError(f"unsupported store {redact_url(url)!r}: use a sqlite:/// or postgresql:// URL")


def _read_only_sqlite_url(database: str | None) -> str:
    if not database or database == ":memory:":
        raise ValueError("a read-only store needs a SQLite file, not an in-memory database")
    if not Path(database).is_file():
        raise FileNotFoundError(f"no SQLite store at {database}")
    return f"sqlite:///file:{quote(database)}?mode=ro&uri=true"


def _make_sqlite_engine(url: str, database: str | None, read_only: bool = False) -> Engine:
    if read_only:
        url = _read_only_sqlite_url(database)
    elif database and database != ":memory:":
        db_path = Path(database)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        fs = filesystem_type(db_path.parent)
        if fs in NETWORK_FILESYSTEMS:
            warnings.warn(
                f"flowprov store {db_path} is on a network file system ({fs}): SQLite's locking is "
                "unsafe there and concurrent writers can corrupt it. Use PostgreSQL (FLOWPROV_DB=postgresql://...) "
                "for stores shared across machines.",
                stacklevel=3,
            )
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        json_serializer=redacting_json_dumps,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # LIKE is case-sensitive on PostgreSQL; make SQLite agree so `startswith` means the same on both.
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()
        dbapi_connection.create_function("regexp", 2, _regexp, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Reads run without a transaction (autocommit); writes take the write lock at once.
        if conn.get_execution_options().get("flowprov_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _regexp(pattern: str | None, value: str | None) -> bool | None:
    if pattern is None or value is None:
        return None
    return re.search(pattern, value) is not None


def _dispose_after_fork() -> None:
    from flowprov.core.store import connection

    for store in list(connection.open_stores()):
        store.forget_sessions()  # the parent's sessions hold its connections: never use them here
        store.engine.dispose(close=False)


if sys.platform != "win32":
    os.register_at_fork(after_in_child=_dispose_after_fork)
