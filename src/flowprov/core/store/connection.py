"""Open stores and the current one.

A `Store` owns an engine and one SQLAlchemy session per thread. Records loaded or saved through a
store stay attached to its session, so relations load on attribute access the way Django models do.
Writes go through `Store.transaction()`: one transaction per call, however many records it writes.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from flowprov.core.exceptions import StoreError
from flowprov.core.store import settings
from flowprov.core.store.engine import WRITE_OPTIONS, driver_reason, make_engine, normalize_url, redact_url

_lock = threading.RLock()
_stores: dict[str, Store] = {}
_current: Store | None = None
_current_source: str | None = None
_all_stores: weakref.WeakSet[Store] = weakref.WeakSet()
# a store bound to this thread/task by `using_store`: read code written for the current store
# (flowprov.diff) can serve one store among several (the UI's read-only one) without a global switch
_bound: ContextVar[Store | None] = ContextVar("flowprov_bound_store", default=None)


class Store:
    """One provenance store (a SQLite file or a PostgreSQL database/schema)."""

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        name: str | None = None,
        check_schema: bool = True,
        read_only: bool = False,
    ) -> None:
        from sqlalchemy.exc import DBAPIError

        from flowprov.core.store.schema import ensure_schema

        self.url = normalize_url(url)
        self.name = name
        self.read_only = read_only
        _refuse_missing_sqlite_file(self.url, create and not read_only)
        self.engine = make_engine(self.url, read_only=read_only)
        self.dialect = self.engine.dialect.name
        self.write_options = WRITE_OPTIONS[self.dialect]
        self._local = threading.local()
        _all_stores.add(self)
        if check_schema:
            try:
                ensure_schema(self, create=create and not read_only)
            except DBAPIError as exc:  # not a database, refused, no such database, no permission
                self.engine.dispose()
                raise StoreError(f"cannot open store {self.display_url}: {driver_reason(exc)}") from None

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    @property
    def session(self) -> Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = Session(bind=self.engine, expire_on_commit=False, autoflush=False)
            session.info["store"] = self
            self._local.session = session
            self._local.depth = 0
        return session

    def release(self) -> None:
        """End the session's read 'transaction' so its connection goes back to the pool."""
        session = self.session
        if (
            getattr(self._local, "depth", 0) == 0
            and session.in_transaction()
            and not (session.new or session.dirty or session.deleted)
        ):
            session.commit()

    def in_write_transaction(self) -> bool:
        """True inside `transaction()` in this thread."""
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction; nested calls join the outermost one (all or nothing)."""
        session = self.session
        if self._local.depth > 0:
            self._local.depth += 1
            try:
                yield session
            finally:
                self._local.depth -= 1
            return
        if session.in_transaction():
            session.commit()
        session.connection(execution_options=self.write_options)
        self._local.depth = 1
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            self._local.depth = 0

    @contextmanager
    def driver_write(self, single_statement: bool = False) -> Iterator[Any]:
        """The DBAPI connection of a write transaction, for the row writer (core/registry/rows.py).

        Inside `transaction()`: that transaction's connection. Otherwise a transaction of its own
        on the session's reading connection, driven on the driver directly, because SQLAlchemy's
        transaction and commit machinery costs more than a one-row insert: SQLite `BEGIN
        IMMEDIATE` ... `COMMIT` (the write lock taken up front, as in `transaction()`);
        PostgreSQL's reading connection is in autocommit, so a `single_statement` write is its
        own transaction (one round trip) and anything else gets BEGIN ... COMMIT.
        """
        session = self.session
        dbapi_connection: Any = session.connection().connection.dbapi_connection  # sqlite3 or psycopg
        if self._local.depth > 0:
            yield dbapi_connection
            return
        if self.dialect == "sqlite":
            with _sqlite_transaction(self, dbapi_connection):
                yield dbapi_connection
        elif single_statement and dbapi_connection.autocommit:
            yield dbapi_connection
        else:
            with driver_errors(self), dbapi_connection.transaction():
                yield dbapi_connection

    def forget_sessions(self) -> None:
        """Drop this process's sessions without closing them (a forked child must not touch
        connections it shares with its parent)."""
        self._local = threading.local()

    def dispose(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None
        self.engine.dispose()


def translated(
    exc: Exception, dbapi_error: type[Exception], statement: str | None = None, params: Any = None
) -> Exception:
    """The driver's exception as SQLAlchemy's (IntegrityError, OperationalError for a locked
    database, ...), so code on the driver is handled like code on SQLAlchemy."""
    from sqlalchemy.exc import DBAPIError

    return DBAPIError.instance(statement, params, exc, dbapi_error)


@contextmanager
def driver_errors(store: Store) -> Iterator[None]:
    """Raise the driver's exceptions as SQLAlchemy's (see `translated`)."""
    dbapi_error = store.engine.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise translated(exc, dbapi_error) from exc


@contextmanager
def _sqlite_transaction(store: Store, dbapi_connection: Any) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on the driver; its errors raised as SQLAlchemy's."""
    dbapi_error = store.engine.dialect.loaded_dbapi.Error
    try:
        dbapi_connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            dbapi_connection.execute("COMMIT")
        except BaseException:
            if dbapi_connection.in_transaction:
                dbapi_connection.execute("ROLLBACK")
            raise
    except dbapi_error as exc:
        raise translated(exc, dbapi_error) from exc


def _refuse_missing_sqlite_file(url: str, create: bool) -> None:
    """Reading must not create a store: SQLite would make an empty file (and its folder) on connect."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if make_url(url).get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return
    path = Path(database)
    if path.is_dir():
        raise StoreError(f"cannot open store {path}: it is a directory, not an SQLite file")
    if not create and not path.exists():
        raise StoreError(f"no store at {path}: nothing has been recorded there (`flowprov init --db {path}` makes one)")


def open_stores() -> list[Store]:
    return list(_all_stores)


def get_store(url_or_name: str | os.PathLike, *, create: bool = True) -> Store:
    """The open store for a URL, path or configured name (opened once per process)."""
    raw = os.fspath(url_or_name)
    resolved = settings.resolve_name_or_url(raw)
    url = normalize_url(resolved)
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = Store(url, create=create, name=None if resolved == raw else raw)
            _stores[url] = store
        return store


def connect(url_or_name: str | os.PathLike | None = None, *, create: bool = True) -> Store:
    """Make a store the current one for this process and return it.

    Without an argument, re-run the lookup (FLOWPROV_DB, then the nearest `.flowprov/`, then the
    per-user default). An empty store is initialised on first use; a store with an older schema is
    refused with the command that upgrades it.
    """
    global _current, _current_source
    with _lock:
        if url_or_name is None:
            choice = settings.choose_store()
            store, source = get_store(choice.url, create=create), choice.source
        else:
            store, source = get_store(url_or_name, create=create), "connect"
        _current, _current_source = store, source
        return store


@contextmanager
def using_store(store: Store) -> Iterator[Store]:
    """Within this block (this thread or task only), `current_store()` is `store`."""
    token = _bound.set(store)
    try:
        yield store
    finally:
        _bound.reset(token)


def current_store() -> Store:
    """The store records are read from and written to when no other is named."""
    store = _bound.get() or _current
    if store is None:
        store = connect()
    return store


def current_store_source() -> str | None:
    return _current_source


def disconnect_all() -> None:
    """Close every open store (tests use this between stores)."""
    global _current, _current_source
    with _lock:
        for store in list(_stores.values()):
            store.dispose()
        _stores.clear()
        _current, _current_source = None, None
