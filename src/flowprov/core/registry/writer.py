"""Insert new records with plain batched INSERT statements, one executemany per class.

The ORM unit of work costs far more per object than the insert itself; a provenance store mostly
appends, so new records bypass it. For several rows their ids are allocated up front inside the write
transaction (SQLite: above MAX(id), safe because BEGIN IMMEDIATE makes this the only writer;
PostgreSQL: from the table's sequence) and the rows go out in one executemany per class; a single
row takes the id the database gives it. The objects then join the session as persistent records
(no reload, no extra query). Updates still go through the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Table, TextClause, text
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.interfaces import MANYTOONE

if TYPE_CHECKING:
    from flowprov.core.registry.base import Record

# per record class (not inherited): its many-to-one relations
_FK_CACHE: dict[type[Record], list[tuple[str, list[str]]]] = {}


def _many_to_one(cls: type[Record]) -> list[tuple[str, list[str]]]:
    cached = _FK_CACHE.get(cls)
    if cached is None:
        cached = []
        for rel in cls.__mapper__.relationships:
            if rel.direction is MANYTOONE and not rel.viewonly:
                pairs = rel.local_remote_pairs or ()
                cached.append((rel.key, [cls.__mapper__.get_property_by_column(local).key for local, _ in pairs]))
        _FK_CACHE[cls] = cached
    return cached


def sync_foreign_keys(record: Record) -> list[Record]:
    """Copy related records' ids into foreign-key columns; return related records still unsaved."""
    waiting = []
    state = record.__dict__
    for rel_key, fk_keys in _many_to_one(type(record)):
        value = state.get(rel_key)
        if value is None:
            continue
        if value.id is None:
            waiting.append(value)
            continue
        for fk in fk_keys:
            state[fk] = value.id
    return waiting


def insert_records(session: Session, records: Iterable[Record]) -> None:
    """INSERT every new record (dependencies first), then attach them to the session."""
    pending = list(records)
    pending_ids = {id(r) for r in pending}
    while pending:
        ready: list[Record] = []
        blocked: list[Record] = []
        for record in pending:
            waiting = [w for w in sync_foreign_keys(record) if id(w) in pending_ids]
            (blocked if waiting else ready).append(record)
        if not ready:
            raise ValueError("records in this save refer to each other in a cycle; save one of them first")
        by_class: dict[type[Record], list[Record]] = {}
        for record in ready:
            by_class.setdefault(type(record), []).append(record)
        for cls, group in by_class.items():
            _insert_group(session, cls, group)
        pending = blocked
        pending_ids = {id(r) for r in pending}


_ID_STATEMENTS: dict[tuple[str, str], TextClause] = {}


def allocate_ids(session: Session, table: Table, n: int) -> list[int]:
    dialect = session.get_bind().dialect.name
    stmt = _ID_STATEMENTS.get((dialect, table.name))
    if stmt is None:
        if dialect == "postgresql":
            stmt = text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)")
        else:
            stmt = text(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")
        _ID_STATEMENTS[(dialect, table.name)] = stmt
    if dialect == "postgresql":
        return list(session.execute(stmt, {"n": n}).scalars())
    start = session.execute(stmt).scalar_one() + 1
    return list(range(start, start + n))


def _insert_group(session: Session, cls: type[Record], group: list[Record]) -> None:
    from flowprov.core.registry.rows import insert_many, insert_one

    store = session.info["store"]
    dbapi_connection = session.connection().connection.dbapi_connection
    if len(group) == 1:
        # one row: the database hands back its id (RETURNING), no allocation query
        group[0].__dict__["id"] = insert_one(store, dbapi_connection, group[0])
    else:
        ids = allocate_ids(session, cls.__table__, len(group))
        insert_many(store, dbapi_connection, group, ids)
    for record in group:
        make_transient_to_detached(record)
        session.add(record)
