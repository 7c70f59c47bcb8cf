"""Soft delete as lamindb does it: the trash is `branch_id = -1`.

`record.delete()` moves a Transform, Run, Artifact or Collection to the trash; queries hide the
trash unless they name an id, uid or hash or filter on `branch_id` themselves
(`Run.filter(branch_id=-1)` lists it); `record.restore()` takes a record back to the main branch
(`branch_id = 1`); `delete(permanent=True)` deletes the row. Space, User and Storage have no trash.

Versions: a family's head (`is_latest`) is always its newest version outside the trash, so moving
the head to the trash promotes the version before it, and restoring it makes it the head again.
When every version is in the trash the head stays the head (lamindb does the same); a family
whose head is deleted for good always gets a new one.

Identity lookups see the trash: saving bytes, a transform source or an external run that is in
the trash restores that record instead of making a second one (docs/design.md, "Soft delete").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session

from flowprov.core.uid import SUFFIX_LEN
from flowprov.core.util import chunked

if TYPE_CHECKING:
    from flowprov.core.registry.base import Record
    from flowprov.core.store.connection import Store

MAIN_BRANCH = 1
ARCHIVE_BRANCH = 0
TRASH_BRANCH = -1


class InBranch:
    """Mixin of the record classes that have a trash (lamindb's `branch_id`)."""

    branch_id: Mapped[int] = mapped_column(Integer, default=MAIN_BRANCH, server_default=text("1"), index=True)


def has_trash(model: type) -> bool:
    return issubclass(model, InBranch)


def delete_record(record: Record, permanent: bool | None, store: Store) -> None:
    """`record.delete(permanent=...)`: to the trash first, for good with `permanent=True`."""
    cls = type(record)
    if not has_trash(cls):
        if permanent is False:
            raise ValueError(f"{cls.__name__} records have no trash: use delete() or delete(permanent=True)")
        delete_rows(store, cls, [record.id])
        return
    in_trash = getattr(record, "branch_id", None) == TRASH_BRANCH
    ids = _family_ids(record) if getattr(record, "_overwrite_versions", False) else [record.id]
    if permanent is True:
        _load_parents(record)
        delete_rows(store, cls, ids)
    elif in_trash:
        raise ValueError(
            f"{cls.__name__} {record.uid} is already in the trash: delete(permanent=True) deletes it for good"
        )
    else:
        move_branch(store, cls, ids, TRASH_BRANCH)


def _load_parents(record: Any) -> None:
    """Load the records a record points to (a run's transform, ...) before it is deleted: the
    deleted record leaves the session, and lamindb code still reads `run.transform` afterwards."""
    from sqlalchemy import inspect

    state = inspect(record)
    for relation in state.mapper.relationships:
        if relation.direction.name == "MANYTOONE" and relation.key in state.unloaded:
            getattr(record, relation.key)


def _family_ids(record: Any) -> list[Any]:
    """lamindb's overwrite_versions: a folder's versions share one location and go together."""
    stem = record.uid[:-SUFFIX_LEN]
    return type(record).filter(uid__startswith=stem, branch_id=None).values_list("id", flat=True)


def delete_rows(store: Store, cls: type[Record], ids: list[Any]) -> int:
    """Delete rows for good (link rows go with them; records that depend on them block it), then
    give each family that lost its head a new one."""
    from sqlalchemy import delete

    from flowprov.core.registry.base import raise_integrity_error

    run_ids: list[Any] = []
    with raise_integrity_error(cls), store.transaction() as session:
        stems = _stems(session, cls, ids)
        if cls.__name__ == "Transform":  # lamindb: a transform's runs go with it, unless they made artifacts
            run_ids = _delete_runs_of(session, ids)
        for chunk in chunked(ids):
            session.execute(delete(cls).where(cls.id.in_(chunk)), execution_options={"synchronize_session": False})
        settle_heads(session, cls, stems)
    if run_ids:
        from flowprov.core.registry.run import Run

        _forget(store, Run, set(run_ids))
    _forget(store, cls, set(ids))
    return len(ids)


def _delete_runs_of(session: Session, transform_ids: list[Any]) -> list[Any]:
    """Delete the runs of these transforms (their link rows go with them); a run an artifact names
    as its creator blocks it, as in lamindb (the artifact's provenance)."""
    from sqlalchemy import delete

    from flowprov.core.registry.run import Run

    run_ids: list[Any] = []
    for chunk in chunked(transform_ids):
        run_ids += session.scalars(select(Run.id).where(Run.transform_id.in_(chunk))).all()
    for chunk in chunked(run_ids):
        session.execute(delete(Run).where(Run.id.in_(chunk)), execution_options={"synchronize_session": False})
    return run_ids


def move_branch(store: Store, cls: type[Record], ids: list[Any], branch_id: int) -> int:
    """Move records to the trash (-1) or back to the main branch (1) in one transaction."""
    model: Any = cls
    with store.transaction() as session:
        for chunk in chunked(ids):
            session.execute(
                update(model).where(model.id.in_(chunk)).values(branch_id=branch_id),
                execution_options={"synchronize_session": False},
            )
        settle_heads(session, cls, _stems(session, cls, ids))
    _refresh_loaded(store, cls, set(ids))
    return len(ids)


def restore_record(record: Record, store: Store) -> None:
    """`record.restore()`: back from the trash onto the main branch."""
    if not has_trash(type(record)):
        raise AttributeError(f"{type(record).__name__} records have no trash to restore from")
    if record.id is None:
        raise ValueError(f"{type(record).__name__} is not saved, nothing to restore")
    move_branch(store, type(record), [record.id], MAIN_BRANCH)


def restore_found(session: Session, records: Iterable[Any]) -> None:
    """Records an identity lookup found in the trash (same bytes, same source, same run) come back."""
    trashed = [r for r in records if r is not None and r.__dict__.get("branch_id") == TRASH_BRANCH]
    if not trashed:
        return
    cls: Any = type(trashed[0])
    ids = [r.id for r in trashed]
    for chunk in chunked(ids):
        session.execute(
            update(cls).where(cls.id.in_(chunk)).values(branch_id=MAIN_BRANCH),
            execution_options={"synchronize_session": False},
        )
    for r in trashed:
        r.__dict__["branch_id"] = MAIN_BRANCH
    settle_heads(session, cls, {r.uid[:-SUFFIX_LEN] for r in trashed} if cls._versioned else set())
    if cls._versioned:  # the heads may have moved: loaded versions read their flag again
        for obj in list(session.identity_map.values()):
            if isinstance(obj, cls):
                session.expire(obj, ["is_latest"])


def settle_heads(session: Session, cls: type[Record], stems: set[str]) -> None:
    """Make each family's newest version outside the trash its head (`is_latest`)."""
    if not stems:
        return
    model: Any = cls
    stem_len = cls._uid_len - SUFFIX_LEN
    rows: list[Any] = []
    for chunk in chunked(sorted(stems)):
        stmt = select(model.id, model.uid, model.is_latest, model.branch_id)
        rows += session.execute(stmt.where(func.substr(model.uid, 1, stem_len).in_(chunk))).all()
    families: dict[str, list[Any]] = {}
    for row in rows:
        families.setdefault(row.uid[:stem_len], []).append(row)
    promote, demote = [], []
    for family in families.values():
        live = [r for r in family if r.branch_id != TRASH_BRANCH]
        if not live and any(r.is_latest for r in family):
            continue  # every version in the trash: the head stays the head
        head = max(live or family, key=lambda r: r.uid[stem_len:])  # base62 sorts in code-point order
        promote += [r.id for r in family if r.id == head.id and not r.is_latest]
        demote += [r.id for r in family if r.id != head.id and r.is_latest]
    for ids, value in ((promote, True), (demote, False)):
        for chunk in chunked(ids):
            session.execute(
                update(model).where(model.id.in_(chunk)).values(is_latest=value),
                execution_options={"synchronize_session": False},
            )


def _stems(session: Session, cls: type[Record], ids: list[Any]) -> set[str]:
    if not cls._versioned:
        return set()
    model: Any = cls
    found: set[str] = set()
    for chunk in chunked(ids):
        found.update(uid[:-SUFFIX_LEN] for uid in session.scalars(select(model.uid).where(model.id.in_(chunk))))
    return found


def _refresh_loaded(store: Store, cls: type[Record], ids: set[Any]) -> None:
    """Records of these ids loaded in this process show their new branch and head flag."""
    session = store.session
    try:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, cls) and obj.id in ids:
                session.expire(obj, ["branch_id", "is_latest"] if cls._versioned else ["branch_id"])
            elif isinstance(obj, cls) and cls._versioned:
                session.expire(obj, ["is_latest"])
    finally:
        store.release()


def _forget(store: Store, cls: type[Record], ids: set[Any]) -> None:
    session = store.session
    for obj in list(session.identity_map.values()):
        if isinstance(obj, cls) and obj.id in ids and object_session(obj) is session:
            session.expunge(obj)
        elif isinstance(obj, cls) and cls._versioned:
            session.expire(obj, ["is_latest"])
    store.release()


def delete_ids(store: Store, cls: type[Record], ids: list[Any], permanent: bool | None) -> int:
    """`QuerySet.delete()`: move the rows to the trash, or (`permanent=True`, or a class without
    a trash) delete them."""
    if permanent or not has_trash(cls):
        if permanent is False:
            raise ValueError(f"{cls.__name__} records have no trash: use delete(permanent=True)")
        return delete_rows(store, cls, ids)
    return move_branch(store, cls, ids, TRASH_BRANCH)
