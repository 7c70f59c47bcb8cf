"""A lazy, chainable QuerySet over one record class, evaluated in one SQL round trip."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from sqlalchemy import ColumnElement, Select, UnaryExpression, func, select
from sqlalchemy.orm import joinedload

from flowprov.core.exceptions import DoesNotExist, FieldError, MultipleResultsFound
from flowprov.core.query.lookups import build_condition, column_attribute
from flowprov.core.query.q import Q
from flowprov.core.util import chunked

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm.strategy_options import _AbstractLoad

    from flowprov.core.query.lookup_object import Lookup
    from flowprov.core.store.connection import Store
    from flowprov.core.store.model import Model

MAX_LISTED_CANDIDATES = 10

RecordT = TypeVar("RecordT", bound="Model")


class QuerySet(Generic[RecordT]):
    """Records of one class matching a filter. Nothing runs until the results are needed."""

    def __init__(self, model: type[RecordT], store: Store | None = None) -> None:
        self.model = model
        self._store = store
        self._where: list[Any] = []
        self._order: list[Any] = []
        self._limit: int | None = None
        self._offset: int | None = None
        self._distinct = False
        self._cache: list[RecordT] | None = None
        self._annotations: dict[str, dict[int, Any]] = {}  # extra df() columns by record id (search scores)
        self._related: tuple[str, ...] = ()
        self._any_branch = False  # the query names an id, uid, hash or branch: the trash is not hidden

    # -- building -------------------------------------------------------------------------
    def _clone(self) -> QuerySet[RecordT]:
        qs = QuerySet(self.model, self._store)
        qs._where = list(self._where)
        qs._order = list(self._order)
        qs._limit, qs._offset, qs._distinct = self._limit, self._offset, self._distinct
        qs._annotations = dict(self._annotations)
        qs._related = self._related
        qs._any_branch = self._any_branch
        return qs

    @property
    def store(self) -> Store:
        if self._store is None:
            from flowprov.core.store.connection import current_store

            return current_store()
        return self._store

    def _conditions(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> builtins.list[Any]:
        conds = []
        for arg in args:
            if isinstance(arg, Q):
                conds.append(arg.resolve(self.model))
            elif hasattr(arg, "compile"):  # an SQLAlchemy condition from flowprov's own code
                conds.append(arg)
            else:
                raise TypeError(f"filter() takes Q objects and keyword lookups, not {type(arg).__name__}")
        conds.extend(build_condition(self.model, key, value) for key, value in kwargs.items())
        return conds

    def _check_not_sliced(self, what: str) -> None:
        if self._limit is not None or self._offset is not None:
            raise TypeError(f"cannot {what} a QuerySet after slicing it")

    def filter(self, *queries: Q | ColumnElement[bool], **expressions: Any) -> QuerySet[RecordT]:
        self._check_not_sliced("filter")
        qs = self._clone()
        qs._any_branch = qs._any_branch or names_identity_or_branch(queries, expressions)
        if expressions.get("branch_id", 0) is None:  # lamindb: branch_id=None means every branch
            expressions = {k: v for k, v in expressions.items() if k != "branch_id"}
        qs._where.extend(self._conditions(queries, expressions))
        return qs

    def exclude(self, *queries: Q | ColumnElement[bool], **expressions: Any) -> QuerySet[RecordT]:
        self._check_not_sliced("exclude")
        from sqlalchemy import and_, not_

        qs = self._clone()
        conds = self._conditions(queries, expressions)
        if conds:
            qs._where.append(not_(and_(*conds)))
        return qs

    def order_by(self, *fields: str) -> QuerySet[RecordT]:
        qs = self._clone()
        qs._order = []
        for field in fields:
            descending = field.startswith("-")
            name = field.lstrip("-")
            column = getattr(self.model, column_attribute(self.model, name))
            qs._order.append(column.desc() if descending else column.asc())
        return qs

    def select_related(self, *fields: str) -> QuerySet[RecordT]:
        """Load these many-to-one relations (`"transform"`, `"run__transform"`) in the same query."""
        from sqlalchemy.orm.interfaces import MANYTOONE

        for path in fields:
            model = self.model
            for part in path.split("__"):
                rel = model.__mapper__.relationships.get(part)
                if rel is None or rel.direction is not MANYTOONE:
                    raise FieldError(f"select_related({path!r}): {model.__name__}.{part} is not a many-to-one relation")
                model = rel.mapper.class_
        qs = self._clone()
        qs._related = (*self._related, *fields)
        return qs

    def distinct(self) -> QuerySet[RecordT]:
        qs = self._clone()
        qs._distinct = True
        return qs

    def all(self) -> QuerySet[RecordT]:
        return self._clone()

    @overload
    def __getitem__(self, item: int) -> RecordT: ...
    @overload
    def __getitem__(self, item: slice) -> QuerySet[RecordT]: ...
    def __getitem__(self, item: int | slice) -> RecordT | QuerySet[RecordT]:
        if isinstance(item, int):
            if item < 0:
                raise ValueError("negative indexing is not supported; use order_by('-field')")
            if self._cache is not None:
                return self._cache[item]
            rows = self[item : item + 1].list()
            if not rows:
                raise IndexError("QuerySet index out of range")
            return rows[0]
        if not isinstance(item, slice) or (item.step not in (None, 1)):
            raise TypeError("QuerySet supports integer indexes and slices without a step")
        start, stop = item.start or 0, item.stop
        if start < 0 or (stop is not None and stop < 0):
            raise ValueError("negative slicing is not supported; use order_by('-field')")
        qs = self._clone()
        base_offset = qs._offset or 0
        qs._offset = base_offset + start if (base_offset + start) else None
        if stop is not None:
            new_limit = max(stop - start, 0)
            qs._limit = new_limit if qs._limit is None else min(new_limit, max(qs._limit - start, 0))
        elif qs._limit is not None:
            qs._limit = max(qs._limit - start, 0)
        return qs

    # -- SQL --------------------------------------------------------------------------------
    def statement(self, *columns: Any) -> Select[Any]:
        stmt = select(*columns) if columns else select(self.model)
        if columns:
            stmt = stmt.select_from(self.model)
        else:
            for path in self._related:
                option: _AbstractLoad | None = None
                model: type[Model] = self.model
                for part in path.split("__"):
                    attr = getattr(model, part)
                    option = joinedload(attr) if option is None else option.joinedload(attr)
                    model = model.__mapper__.relationships[part].mapper.class_
                if option is not None:
                    stmt = stmt.options(option)
        if self._where:
            stmt = stmt.where(*self._where)
        if not self._any_branch and "branch_id" in self.model.__mapper__.column_attrs:
            stmt = stmt.where(self.model.__mapper__.columns["branch_id"] == 1)  # hide the trash (-1)
        if self._distinct:
            stmt = stmt.distinct()
        order = self._order or ([self.model.id.asc()] if (self._limit is not None or self._offset is not None) else [])
        if order:
            stmt = stmt.order_by(*order)
        if self._limit is not None:
            stmt = stmt.limit(self._limit)
        if self._offset is not None:
            stmt = stmt.offset(self._offset)
        return stmt

    def _fetch(self) -> builtins.list[RecordT]:
        if self._cache is None:
            store = self.store
            try:
                stmt = self.statement()
                if not store.session.dirty:
                    # Each query answers from the database, as Django's do: another process may
                    # have changed these rows since this session last loaded them. (With unsaved
                    # changes pending on some record, loaded records are left as they are.)
                    stmt = stmt.execution_options(populate_existing=True)
                self._cache = list(store.session.scalars(stmt).unique().all())
            finally:
                store.release()
        return self._cache

    # -- evaluation -------------------------------------------------------------------------
    def list(self) -> builtins.list[RecordT]:
        return list(self._fetch())

    def __iter__(self) -> Iterator[RecordT]:
        return iter(self._fetch())

    def iterator(self, chunk_size: int = 2000) -> Iterator:
        """The records, fetched `chunk_size` at a time and not cached (Django's `iterator()`), so
        memory stays flat however many rows match."""
        from sqlalchemy.orm import Session

        store = self.store
        # PostgreSQL streams through a server-side cursor, which needs a transaction: a read-only
        # one of its own (REPEATABLE READ: one snapshot for the whole walk), outside the store's session.
        options = {"isolation_level": "REPEATABLE READ"} if store.dialect == "postgresql" else {}
        with store.engine.connect() as conn:
            conn = conn.execution_options(**options)
            with conn.begin(), Session(bind=conn, expire_on_commit=False, autoflush=False) as session:
                session.info["store"] = store
                result = session.execute(self.statement().execution_options(yield_per=chunk_size))
                yield from result.scalars()

    def __len__(self) -> int:
        return len(self._fetch())

    def __bool__(self) -> bool:
        return bool(self._fetch())

    def __repr__(self) -> str:
        rows = self[:21].list() if self._cache is None else self._cache[:21]
        shown = ", ".join(repr(r) for r in rows[:20])
        return f"<QuerySet [{shown}{', ...' if len(rows) > 20 else ''}]>"

    def count(self) -> int:
        if self._cache is not None:
            return len(self._cache)
        store = self.store
        try:
            inner = self.statement(self.model.id).subquery()
            return store.session.execute(select(func.count()).select_from(inner)).scalar_one()
        finally:
            store.release()

    def exists(self) -> bool:
        store = self.store
        try:
            return store.session.execute(select(self.statement(self.model.id).limit(1).exists())).scalar_one()
        finally:
            store.release()

    def first(self) -> RecordT | None:
        qs = self if self._order else self.order_by("id")
        rows = qs[:1].list()
        return rows[0] if rows else None

    def last(self) -> RecordT | None:
        if self._order:
            qs = self._clone()
            qs._order = [_reverse(o) for o in self._order]
        else:
            qs = self.order_by("-id")
        rows = qs[:1].list()
        return rows[0] if rows else None

    def one(self) -> RecordT:
        rows = self[:2].list() if self._limit is None else self.list()
        if not rows:
            raise DoesNotExist(f"no {self.model.__name__} matches this query")
        if len(rows) > 1:
            raise MultipleResultsFound(
                f"more than one {self.model.__name__} matches this query; use .first() or filter further"
            )
        return rows[0]

    def one_or_none(self) -> RecordT | None:
        try:
            return self.one()
        except DoesNotExist:
            return None

    def _select_rows(self, fields: tuple[str, ...]) -> tuple[builtins.list[str], Sequence[Any]]:
        names, columns = self._columns(fields)
        store = self.store
        try:
            return names, store.session.execute(self.statement(*columns)).all()
        finally:
            store.release()

    def values(self, *fields: str) -> builtins.list[dict[str, Any]]:
        names, rows = self._select_rows(fields)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def values_list(self, *fields: str, flat: bool = False) -> builtins.list[Any]:
        if flat and len(fields) != 1:
            raise TypeError("values_list(flat=True) takes exactly one field")
        _, rows = self._select_rows(fields)
        return [row[0] for row in rows] if flat else [tuple(row) for row in rows]

    def _columns(self, fields: tuple[str, ...]) -> tuple[builtins.list[str], builtins.list[Any]]:
        mapper = self.model.__mapper__
        if not fields:
            fields = tuple(c.key for c in mapper.column_attrs if not c.key.startswith("_"))
        columns = []
        for name in fields:
            columns.append(getattr(self.model, column_attribute(self.model, name)))
        return list(fields), columns

    def delete(self, permanent: bool | None = None) -> int:
        """Move every matching record to the trash (`permanent=True`: delete them) in one
        transaction; returns how many. Records without a trash (Space, User, Storage) are deleted."""
        ids = self.values_list("id", flat=True)
        self._cache = None
        if not ids:
            return 0
        # the record class knows whether it has a trash (registry/trash.py, a layer above this one)
        return self.model._delete_ids(self.store, ids, permanent)

    def update(self, **values: Any) -> int:
        """Set fields of every matching record in one UPDATE (Django's `update()`; no save() rules
        beyond the store's own constraints); returns how many rows matched."""
        from sqlalchemy import update  # noqa: PLC0415

        columns = {}
        for name, value in values.items():
            attr = column_attribute(self.model, name)
            columns[self.model.__mapper__.column_attrs[attr].columns[0].key] = value
        ids = self.values_list("id", flat=True)
        store = self.store
        with store.transaction() as session:
            for chunk in chunked(ids, 10_000):
                stmt = update(self.model).where(self.model.id.in_(chunk)).values(columns)
                session.execute(stmt, execution_options={"synchronize_session": False})
        changed = set(ids)
        for obj in list(store.session.identity_map.values()):
            if isinstance(obj, self.model) and obj.id in changed:
                store.session.expire(obj)
        self._cache = None
        return len(ids)

    # -- single records -------------------------------------------------------------------
    def get(self, idlike: int | str | None = None, **expressions: Any) -> RecordT:
        """One record by id (int), uid or uid prefix (str), and/or field values.

        `is_run_input=run` (lamindb; an artifact or collection): the record is also linked as an
        input of that run."""
        is_run_input = expressions.pop("is_run_input", None) if hasattr(self.model, "input_of_runs") else None
        found = self._get(idlike, **expressions)
        if is_run_input is not None and is_run_input is not False:
            _link_as_input(found, is_run_input)
        return found

    def _get(self, idlike: int | str | None = None, **expressions: Any) -> RecordT:
        qs = self.filter(**expressions) if expressions else self
        desc = _describe(idlike, expressions) or "this query"
        uid_len = getattr(self.model, "_uid_len", None)
        if isinstance(idlike, bool) or (idlike is not None and not isinstance(idlike, (int, str))):
            raise TypeError(f"get() takes an int id or a uid string, not {type(idlike).__name__}")
        if idlike is not None:
            qs = qs._clone()
            qs._any_branch = True  # lamindb: a record named by id or uid is found in the trash too
        if isinstance(idlike, int):
            qs = qs.filter(id=idlike)
        elif isinstance(idlike, str):
            if not idlike:
                raise ValueError("get() needs a non-empty uid or uid prefix")
            qs = qs.filter(uid=idlike) if uid_len and len(idlike) >= uid_len else qs.filter(uid__startswith=idlike)
        rows = qs[: MAX_LISTED_CANDIDATES + 1].list()
        if not rows:
            raise DoesNotExist(f"{self.model.__name__} matching {desc} does not exist")
        if len(rows) == 1:
            return rows[0]
        latest = _latest_of_one_family(rows)
        if latest is not None:
            return latest
        listed = ", ".join(r.uid for r in rows[:MAX_LISTED_CANDIDATES]) + (
            ", ..." if len(rows) > MAX_LISTED_CANDIDATES else ""
        )
        count = len(rows) if len(rows) <= MAX_LISTED_CANDIDATES else f"more than {MAX_LISTED_CANDIDATES}"
        raise MultipleResultsFound(
            f"{count} {self.model.__name__} records match {desc}: {listed}; give a longer uid or more fields"
        )

    def df(
        self, include: str | builtins.list[str] | None = None, features: bool = False, limit: int | None = 100
    ) -> pd.DataFrame:
        """The matching records as a pandas DataFrame (see flowprov.core.query.dataframe)."""
        from flowprov.core.query.dataframe import queryset_to_dataframe

        return queryset_to_dataframe(self, include=include, features=features, limit=limit)

    to_dataframe = df

    def lookup(self, field: Any = None, return_field: Any = None) -> Lookup:
        """`field` / `return_field`: a field name or, as in lamindb, the field (`ln.User.handle`)."""
        from flowprov.core.query.lookup_object import make_lookup

        return make_lookup(self, field=_field_name(field), return_field=_field_name(return_field))

    def search(
        self,
        string: str,
        *,
        field: str | builtins.list[str] | None = None,
        limit: int | None = 20,
        case_sensitive: bool = False,
    ) -> QuerySet[RecordT]:
        from flowprov.core.query.search import search_queryset

        return search_queryset(self, string, field=field, limit=limit, case_sensitive=case_sensitive)


def _reverse(order_clause: UnaryExpression[Any]) -> ColumnElement[Any]:
    from sqlalchemy.sql import operators

    modifier = getattr(order_clause, "modifier", None)
    element = order_clause.element
    return element.asc() if modifier is operators.desc_op else element.desc()


def _latest_of_one_family(rows: list[RecordT]) -> RecordT | None:
    """When all matches are versions of one family, the latest one (else None)."""
    stem_len = getattr(rows[0], "_uid_len", 0) - 4
    if not getattr(rows[0], "_versioned", False) or stem_len <= 0:
        return None
    if len({r.uid[:stem_len] for r in rows}) != 1:
        return None
    latest = [r for r in rows if getattr(r, "is_latest", False)]
    return latest[0] if len(latest) == 1 else None


def _describe(idlike: Any, expressions: dict[str, Any]) -> str:
    parts = [repr(idlike)] if idlike is not None else []
    parts += [f"{k}={v!r}" for k, v in expressions.items()]
    return ", ".join(parts)


IDENTITY_KEYS = frozenset({"id", "uid", "hash", "id__in", "uid__in", "hash__in"})


def names_identity_or_branch(queries: tuple[Any, ...], expressions: dict[str, Any]) -> bool:
    """True when a filter names records by id, uid or hash, or a branch (lamindb's rule for
    showing the trash): `filter(uid=...)` finds a trashed record, `filter(branch_id=-1)` lists the trash."""
    keys = list(expressions)
    stack = [q for q in queries if isinstance(q, Q)]
    while stack:
        for child in stack.pop().children:
            if isinstance(child, Q):
                stack.append(child)
            else:
                keys.append(child[0])
    return any(k in IDENTITY_KEYS or k == "branch_id" or k.startswith(("branch_id__", "branch__")) for k in keys)


def _link_as_input(record: Any, run: Any) -> None:
    """lamindb's `get(..., is_run_input=run)`: the record becomes an input of the run."""
    if not hasattr(run, "input_artifacts"):
        raise TypeError(f"get(is_run_input=...): pass the Run that reads it, not {run!r}")
    relation = run.input_collections if type(record).__name__ == "Collection" else run.input_artifacts
    relation.add(record)


def _field_name(field: Any) -> str | None:
    """A field given as a string, or as the class attribute (`ln.User.handle`): its name."""
    if field is None or isinstance(field, str):
        return field
    key = getattr(field, "key", None)
    if isinstance(key, str):
        return key
    raise TypeError(f"field: pass a field name or a field such as ln.User.handle, not {field!r}")
