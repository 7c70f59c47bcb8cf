"""New records written as plain rows: one compiled INSERT per table, tuples straight to the driver.

`save()` of a new record and `save(list)` of new records skip the ORM unit of work and also
SQLAlchemy's per-call statement execution (parameter processing, result objects, events): a
table's INSERT is compiled once per dialect, together with each column's bind processor (JSON
serialised through the redacting serializer, UTC datetimes), and each row is a tuple (SQLite) or
a dict (psycopg's named style) handed to the DBAPI cursor.

- One row takes its id from the database: `INSERT ... RETURNING id` (SQLite >= 3.35,
  PostgreSQL; `cursor.lastrowid` on an older SQLite).
- Many rows get their ids allocated up front (`writer.allocate_ids`) and go out as one
  executemany.

Driver errors are raised as SQLAlchemy's exception classes (IntegrityError, OperationalError, ...)
so callers handle them exactly as errors of the ORM path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Dialect, insert

from flowprov.core.store.connection import translated

if TYPE_CHECKING:
    from flowprov.core.registry.base import Record
    from flowprov.core.store.connection import Store


@dataclass(frozen=True)
class CompiledInsert:
    """One INSERT statement for one dialect, ready for the driver."""

    sql: str
    keys: tuple[str, ...]  # attribute keys in parameter order ("id" for the id column)
    names: tuple[str, ...]  # parameter names (psycopg's named style), same order
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool  # tuples (SQLite's qmark style) or dicts (psycopg's pyformat style)

    def row(self, state: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The parameters of one record's INSERT, from its __dict__."""
        values = [state.get(key) for key in self.keys]
        for i, process in enumerate(self.processors):
            if process is not None and values[i] is not None:
                values[i] = process(values[i])
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


@dataclass(frozen=True)
class TableInserts:
    returning_id: CompiledInsert  # one row without its id; the database returns the new id
    with_id: CompiledInsert  # rows whose ids are given
    has_returning: bool


_COMPILED: dict[tuple[int, type], TableInserts] = {}


def compiled_inserts(cls: type[Record], dialect: Dialect) -> TableInserts:
    """The class's compiled INSERTs for this dialect (compiled once per engine dialect)."""
    cached = _COMPILED.get((id(dialect), cls))
    if cached is None:
        table = cls.__table__
        key_of = {a.columns[0].key: a.key for a in cls.__mapper__.column_attrs}
        has_returning = bool(dialect.insert_returning)
        without_id = [name for name in key_of if name != "id"]
        one = insert(table).returning(table.c.id) if has_returning else insert(table)
        cached = TableInserts(
            returning_id=_compile(one, dialect, without_id, key_of),
            with_id=_compile(insert(table), dialect, [*without_id, "id"], key_of),
            has_returning=has_returning,
        )
        _COMPILED[(id(dialect), cls)] = cached
    return cached


def _compile(stmt: Any, dialect: Dialect, column_names: list[str], key_of: dict[str, str]) -> CompiledInsert:
    compiled = stmt.compile(dialect=dialect, column_keys=column_names)
    names = list(compiled.positiontup) if dialect.positional else column_names
    columns = {c.key: c for c in stmt.table.columns}
    processors = tuple(columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    return CompiledInsert(
        sql=str(compiled),
        keys=tuple(key_of[name] for name in names),
        names=tuple(names),
        processors=processors,
        positional=dialect.positional,
    )


def insert_one(store: Store, dbapi_connection: Any, record: Record) -> int:
    """INSERT one record on this DBAPI connection; return the id the database gave it."""
    inserts = compiled_inserts(type(record), store.engine.dialect)
    compiled = inserts.returning_id
    params = compiled.row(record.__dict__)
    dbapi_error = store.engine.dialect.loaded_dbapi.Error
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(compiled.sql, params)
        return int(cursor.fetchone()[0] if inserts.has_returning else cursor.lastrowid)
    except dbapi_error as exc:
        raise translated(exc, dbapi_error, compiled.sql, params) from exc
    finally:
        cursor.close()


def insert_many(store: Store, dbapi_connection: Any, records: Sequence[Record], ids: Sequence[int]) -> None:
    """INSERT records with the ids allocated for them (set on each record), in one executemany."""
    if not records:
        return
    compiled = compiled_inserts(type(records[0]), store.engine.dialect).with_id
    rows = []
    for record, new_id in zip(records, ids, strict=True):
        record.__dict__["id"] = new_id
        rows.append(compiled.row(record.__dict__))
    dbapi_error = store.engine.dialect.loaded_dbapi.Error
    cursor = dbapi_connection.cursor()
    try:
        cursor.executemany(compiled.sql, rows)
    except dbapi_error as exc:
        raise translated(exc, dbapi_error, compiled.sql, rows[:1]) from exc
    finally:
        cursor.close()


def save_new(record: Record, store: Store) -> Record | None:
    """Save a new record as one row, or return None when it needs the ORM path.

    Inside a write transaction everything `save()` does applies (relations resolved, duplicates
    of versioned records found); outside one, only a record that needs no query first takes this
    path (not versioned, its relations already records of this store's session, the user's id
    known, nothing else pending in the session), and its insert is a transaction of its own.
    """
    from sqlalchemy.orm import make_transient_to_detached

    session = store.session
    in_transaction = store.in_write_transaction()
    if not in_transaction and not _needs_no_query(record, store, session):
        return None
    canonical = record._prepare_write(session, store)
    if canonical is not None:
        return canonical
    if _unsaved_relations(record):
        return None  # the ORM path explains what is not saved
    with store.driver_write(single_statement=True) as dbapi_connection:
        record.__dict__["id"] = insert_one(store, dbapi_connection, record)
    make_transient_to_detached(record)
    session.add(record)
    return record


def _needs_no_query(record: Record, store: Store, session: Any) -> bool:
    from sqlalchemy import inspect

    from flowprov.core.registry.user import known_user_id

    if record._versioned or session.new or session.dirty or session.deleted:
        return False
    state = record.__dict__
    if "created_by_id" in state and state["created_by_id"] is None and state.get("created_by") is None:
        user_id = known_user_id(store)
        if user_id is None:
            return False
        state["created_by_id"] = user_id
    for rel_key in record._many_to_one_keys():
        value = state.get(rel_key)
        if value is not None and inspect(value).session is not session:
            return False
    return True


def _unsaved_relations(record: Record) -> bool:
    """Copy related records' ids into the foreign keys; True if one of them is not saved."""
    from flowprov.core.registry.writer import sync_foreign_keys

    return bool(sync_foreign_keys(record))
