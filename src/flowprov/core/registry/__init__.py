"""The records: Space, User, Storage, Transform, Run, Artifact, Collection (+ link tables)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar, cast

from sqlalchemy import inspect

from flowprov.core.registry.artifact import Artifact, link_outputs
from flowprov.core.registry.base import Record
from flowprov.core.registry.collection import Collection
from flowprov.core.registry.run import Run
from flowprov.core.registry.space import Space
from flowprov.core.registry.storage import Storage
from flowprov.core.registry.transform import Transform
from flowprov.core.registry.user import User
from flowprov.core.registry.versioning import VersionedBatch
from flowprov.core.registry.writer import insert_records
from flowprov.core.store.integrity import raise_integrity_error

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store

Base = Record
RecordT = TypeVar("RecordT", bound=Record)


def save(records: Iterable[RecordT], using: str | Store | None = None) -> list[RecordT]:
    """Save many records in one transaction (all or nothing), with batched inserts.

    Returns the saved records in order; a record whose content is already stored (a transform
    with the same key and source, an artifact with the same bytes) is replaced by the stored one.
    Records may refer to each other (runs to transforms saved in the same call).
    """
    records = list(records)
    if not records:
        return []
    for record in records:
        record._fill_defaults()
        record.clean_fields()
        record.clean()
    store = records[0]._target_store(using)
    result: list[RecordT | None] = [None] * len(records)
    # new artifacts saved with a run: that run wrote them at this path (see Artifact.save_base)
    writers = [
        (i, r.__dict__["run"], r.uri)
        for i, r in enumerate(records)
        if isinstance(r, Artifact) and r.__dict__.get("run") is not None and inspect(r).transient
    ]
    with raise_integrity_error(type(records[0])), store.transaction() as session:
        new, updated = [], []
        versioned: dict[type[RecordT], list[int]] = {}
        batch = {id(r) for r in records}
        for i, record in enumerate(records):
            record._prepare_write(session, store, resolve_duplicates=False, batch=batch)
            if not inspect(record).transient:
                updated.append(record)
                result[i] = record
            elif record._versioned:
                versioned.setdefault(type(record), []).append(i)
            else:
                new.append(record)
                result[i] = record
        for cls, positions in versioned.items():
            same_class = [records[i] for i in positions]
            for i, existing in zip(positions, VersionedBatch(session, cls, same_class).resolve(), strict=True):
                if existing is None:
                    new.append(records[i])
                    result[i] = records[i]
                else:
                    records[i]._adopt(existing)
                    result[i] = existing
        # Records that refer to a duplicate now point at the stored record instead.
        for record in new:
            record._resolve_relations(session, store, batch)
        insert_records(session, new)
        if updated:
            session.add_all(updated)
            session.flush()
        for record in new:
            if isinstance(record, Collection):
                record._save_members(session)
        if writers:
            written = [(run.id, cast(int, cast(Record, result[i]).id), path) for i, run, path in writers]
            link_outputs(session, written)
    return cast(list[RecordT], result)  # every position was filled above


__all__ = ["Artifact", "Base", "Collection", "Record", "Run", "Space", "Storage", "Transform", "User", "save"]
