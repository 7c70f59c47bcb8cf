"""The records: Space, User, Storage, Transform, Run, Artifact, Collection (+ link tables)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowprov.core.registry.artifact import Artifact
from flowprov.core.registry.base import Record, raise_integrity_error
from flowprov.core.registry.collection import Collection
from flowprov.core.registry.run import Run
from flowprov.core.registry.space import Space
from flowprov.core.registry.storage import Storage
from flowprov.core.registry.transform import Transform
from flowprov.core.registry.user import User

Base = Record


def save(records: Iterable[Record], using: Any = None) -> list[Record]:
    """Save many records in one transaction (all or nothing), with batched inserts.

    Returns the saved records in order; a record whose content is already stored (a transform
    with the same key and source, an artifact with the same bytes) is replaced by the stored one.
    """
    records = list(records)
    if not records:
        return []
    for record in records:
        record._fill_defaults()
        record.clean_fields()
        record.clean()
    store = records[0]._target_store(using)
    result: list[Record] = []
    with raise_integrity_error(type(records[0])), store.transaction() as session:
        for record in records:
            canonical = record._prepare_write(session, store)
            if canonical is None:
                session.add(record)
                # Content-addressed records must be visible to the next one's duplicate check.
                if getattr(record, "_versioned", False):
                    session.flush()
            result.append(canonical or record)
        session.flush()
        for record in records:
            if isinstance(record, Collection) and getattr(record, "_canonical", None) is None:
                from flowprov.core.registry.collection import collection_artifact
                from flowprov.core.registry.managers import insert_ignore

                rows = [{"collection_id": record.id, "artifact_id": m.id, "position": i} for i, m in enumerate(record._members)]
                insert_ignore(session, collection_artifact, rows)
    return result


__all__ = ["Artifact", "Base", "Collection", "Record", "Run", "Space", "Storage", "Transform", "User", "save"]
