"""Relation managers: `run.input_artifacts.add(a)`, `.remove`, `.set`, `.all()`, as in Django.

A manager writes at once (one transaction per call) and reads lazily through a QuerySet, so a
run with a million inputs never loads them all to add one more.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import MANYTOMANY, ONETOMANY

from flowprov.core.exceptions import InvalidArgument, ValidationError
from flowprov.core.query.lookups import _pairs
from flowprov.core.query.queryset import QuerySet

if TYPE_CHECKING:
    import pandas as pd

    from flowprov.core.registry.base import Record
    from flowprov.core.store.connection import Store


def insert_ignore(session: Session, table: Table, rows: list[dict[Any, Any]]) -> None:
    """Insert link rows, skipping those already present (same statement on both stores)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


class RelatedManager:
    """The records on the other side of a to-many relation of one saved record."""

    def __init__(
        self,
        instance: Record,
        relationship: str,
        order_column: str | None = None,
        link_values: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        self.instance = instance
        self.prop = type(instance).__mapper__.relationships[relationship]
        self.model: type[Record] = self.prop.mapper.class_
        self.order_column = order_column
        self.link_values = link_values  # extra columns of a link row, from the related record

    def __repr__(self) -> str:
        return f"<RelatedManager {type(self.instance).__name__}.{self.prop.key.lstrip('_')} -> {self.model.__name__}>"

    @property
    def _link_table(self) -> Table:
        """The link table of a many-to-many relation."""
        table = self.prop.secondary
        assert isinstance(table, Table)
        return table

    def _store(self) -> Store:
        return self.instance._target_store(None)

    def _require_saved(self) -> int:
        if self.instance.id is None:
            raise ValueError(
                f"{type(self.instance).__name__} must be saved before its {self.prop.key.lstrip('_')} can be used"
            )
        return self.instance.id

    def all(self) -> QuerySet[Any]:
        owner_id = self.instance.id
        qs = QuerySet(self.model, self._store())
        if owner_id is None:
            return qs.filter(self.model.id.in_([]))
        if self.prop.direction is ONETOMANY:
            ((local_col, remote_col),) = _pairs(self.prop.local_remote_pairs)
            remote_attr = getattr(self.model, self.model.__mapper__.get_property_by_column(remote_col).key)
            return qs.filter(remote_attr == owner_id)
        ((_, link_local),) = self.prop.synchronize_pairs
        ((_, link_remote),) = _pairs(self.prop.secondary_synchronize_pairs)
        qs = qs.filter(self.model.id.in_(select(link_remote).where(link_local == owner_id)))
        if self.order_column is not None:
            table = self._link_table
            qs._order = [
                select(table.c[self.order_column])
                .where(link_local == owner_id, link_remote == self.model.id)
                .scalar_subquery()
                .asc()
            ]
        return qs

    def filter(self, *queries: Any, **expressions: Any) -> QuerySet[Any]:
        return self.all().filter(*queries, **expressions)

    def get(self, idlike: Any = None, **expressions: Any) -> Any:
        return self.all().get(idlike, **expressions)

    def exclude(self, *queries: Any, **expressions: Any) -> QuerySet[Any]:
        return self.all().exclude(*queries, **expressions)

    def order_by(self, *fields: str) -> QuerySet[Any]:
        return self.all().order_by(*fields)

    def list(self) -> builtins.list[Any]:
        return self.all().list()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def __len__(self) -> int:
        return self.all().count()

    def count(self) -> int:
        return self.all().count()

    def exists(self) -> bool:
        return self.all().exists()

    def first(self) -> Any:
        return self.all().first()

    def df(self, **kwargs: Any) -> pd.DataFrame:
        return self.all().df(**kwargs)

    def _ids(self, objs: tuple[Any, ...]) -> builtins.list[int]:
        ids = []
        store = self._store()
        for obj in objs:
            if not isinstance(obj, self.model):
                raise TypeError(
                    f"{self.prop.key.lstrip('_')} takes {self.model.__name__} records, not {type(obj).__name__}"
                )
            if obj.id is None:
                raise ValidationError({self.prop.key.lstrip("_"): [f"{obj!r} is not saved; save it first"]})
            from flowprov.core.registry.base import _store_of

            other = _store_of(obj)
            if other is not None and other is not store:
                raise ValidationError(
                    {
                        self.prop.key.lstrip("_"): [
                            f"{obj!r} belongs to store {other.display_url}, not {store.display_url}"
                        ]
                    }
                )
            ids.append(obj.id)
        return ids

    def _expire(self, session: Session, objs: tuple[Any, ...] = ()) -> None:
        for obj in (self.instance, *objs):
            if obj in session:
                session.expire(obj, [self.prop.key] if obj is self.instance else None)

    def add(self, *objs: Any, through_defaults: dict[str, Any] | None = None) -> None:
        """Relate saved records to this one (already-related ones are left as they are).
        `through_defaults` (Django's): values of the new link rows' own columns (a transform
        link's `config`); the columns flowprov fills itself cannot be given."""
        owner_id = self._require_saved()
        ids = self._ids(objs)
        extra = self._through_defaults(through_defaults)
        store = self._store()
        from flowprov.core.store.integrity import raise_integrity_error

        with raise_integrity_error(type(self.instance)), store.transaction() as session:
            if self.prop.direction is MANYTOMANY:
                ((_, link_local),) = self.prop.synchronize_pairs
                ((_, link_remote),) = _pairs(self.prop.secondary_synchronize_pairs)
                rows = [{link_local.key: owner_id, link_remote.key: i} for i in ids]
                if self.link_values is not None:
                    for row, obj in zip(rows, objs, strict=True):
                        row.update(self.link_values(obj))
                for row in rows:
                    row.update(extra)
                if self.order_column is not None:
                    start = session.execute(select(link_local).where(link_local == owner_id)).all()
                    for n, row in enumerate(rows):
                        row[self.order_column] = len(start) + n
                insert_ignore(session, self._link_table, rows)
            else:
                ((_, remote_col),) = _pairs(self.prop.local_remote_pairs)
                session.execute(
                    update(self.model).where(self.model.id.in_(ids)).values({remote_col.key: owner_id}),
                    execution_options={"synchronize_session": False},
                )
            self._expire(session, objs)

    def _through_defaults(self, values: dict[str, Any] | None) -> dict[str, Any]:
        if not values:
            return {}
        name = self.prop.key.lstrip("_")
        if self.prop.direction is not MANYTOMANY:
            raise InvalidArgument(f"{name}.add(through_defaults=...): {name} has no link records")
        own = {c.key for c in self._link_table.columns if not c.foreign_keys and not c.primary_key}
        own.discard(self.order_column or "")
        unknown = sorted(set(values) - own)
        if unknown:
            allowed = ", ".join(sorted(own)) or "none"
            raise InvalidArgument(f"{name}.add(through_defaults=...): unknown {', '.join(unknown)}; allowed: {allowed}")
        return dict(values)

    def remove(self, *objs: Any) -> None:
        owner_id = self._require_saved()
        ids = self._ids(objs)
        store = self._store()
        with store.transaction() as session:
            if self.prop.direction is MANYTOMANY:
                ((_, link_local),) = self.prop.synchronize_pairs
                ((_, link_remote),) = _pairs(self.prop.secondary_synchronize_pairs)
                session.execute(delete(self._link_table).where(link_local == owner_id, link_remote.in_(ids)))
            else:
                ((_, remote_col),) = _pairs(self.prop.local_remote_pairs)
                if not remote_col.nullable:
                    raise ValidationError(
                        {
                            self.prop.key.lstrip("_"): [
                                f"{self.model.__name__}.{remote_col.key} cannot be empty; delete the records instead"
                            ]
                        }
                    )
                session.execute(
                    update(self.model)
                    .where(self.model.id.in_(ids), remote_col == owner_id)
                    .values({remote_col.key: None}),
                    execution_options={"synchronize_session": False},
                )
            self._expire(session, objs)

    def clear(self) -> None:
        self.set([])

    def set(self, objs: Iterable[Any]) -> None:
        """Make exactly `objs` related (in one transaction)."""
        objs = tuple(objs)
        store = self._store()
        with store.transaction():
            current = {r.id: r for r in self.all()}
            wanted = set(self._ids(objs))
            stale = [r for i, r in current.items() if i not in wanted]
            if stale:
                self.remove(*stale)
            if self.order_column is not None and self.prop.direction is MANYTOMANY:
                ((_, link_local),) = self.prop.synchronize_pairs
                store.session.execute(delete(self._link_table).where(link_local == self.instance.id))
                self.add(*objs)
            else:
                new = [o for o in objs if o.id not in current]
                if new:
                    self.add(*new)


class OutputArtifactsManager(RelatedManager):
    """`run.output_artifacts`: what the run wrote (link rows with path and time); `add` also makes
    the run the creator (`Artifact.run`) of artifacts that have none, `remove` undoes both."""

    def add(self, *objs: Any, through_defaults: dict[str, Any] | None = None) -> None:
        super().add(*objs)
        ids = [o.id for o in objs]
        with self._store().transaction() as session:
            session.execute(
                update(self.model)
                .where(self.model.id.in_(ids), self.model.__table__.c.run_id.is_(None))
                .values(run_id=self.instance.id),
                execution_options={"synchronize_session": False},
            )
            self._expire(session, objs)

    def remove(self, *objs: Any) -> None:
        super().remove(*objs)
        ids = self._ids(objs)
        with self._store().transaction() as session:
            session.execute(
                update(self.model)
                .where(self.model.id.in_(ids), self.model.__table__.c.run_id == self.instance.id)
                .values(run_id=None),
                execution_options={"synchronize_session": False},
            )
            self._expire(session, objs)


class RecreatedManager(RelatedManager):
    """Read-only: the output links whose run is not the artifact's first creator (lamindb's
    `Run.recreated_artifacts` / `Artifact.recreating_runs`)."""

    def all(self) -> QuerySet:
        from flowprov.core.registry.links import run_output_artifact as link

        owner_id = self.instance.id
        qs = QuerySet(self.model, self._store())
        if owner_id is None:
            return qs.filter(self.model.id.in_([]))
        from flowprov.core.registry.artifact import Artifact

        if self.model is Artifact:  # run.recreated_artifacts
            pairs = select(link.c.artifact_id).where(link.c.run_id == owner_id)
            return qs.filter(Artifact.id.in_(pairs), (Artifact.run_id != owner_id) | Artifact.run_id.is_(None))
        runs = select(link.c.run_id).where(link.c.artifact_id == owner_id)
        creator = getattr(self.instance, "run_id", None)
        qs = qs.filter(self.model.id.in_(runs))
        return qs if creator is None else qs.filter(self.model.id != creator)

    def add(self, *objs: Any, through_defaults: dict[str, Any] | None = None) -> None:
        raise AttributeError("recreated links are written by recording outputs: use run.output_artifacts.add(...)")

    remove = set = add  # type: ignore[assignment]


class RelatedDescriptor:
    """Class attribute that hands out a RelatedManager for a private relationship."""

    def __init__(
        self,
        relationship: str,
        order_column: str | None = None,
        doc: str = "",
        link_values: Callable[[Any], dict[str, Any]] | None = None,
        manager: type[RelatedManager] = RelatedManager,
    ) -> None:
        self.relationship = relationship
        self.order_column = order_column
        self.link_values = link_values
        self.manager = manager
        self.__doc__ = doc

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> RelatedDescriptor: ...
    @overload
    def __get__(self, instance: Record, owner: type[Any]) -> RelatedManager: ...
    def __get__(self, instance: Record | None, owner: type[Any]) -> RelatedDescriptor | RelatedManager:
        if instance is None:
            return self
        return self.manager(instance, self.relationship, self.order_column, self.link_values)

    def __set__(self, instance: Record, value: Any) -> None:
        raise AttributeError(f"use .set([...]) to replace {self.relationship.lstrip('_')}, or .add(...) to extend it")
