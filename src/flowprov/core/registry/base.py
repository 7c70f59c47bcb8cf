"""The base class of every record: saving, deleting, validation and the lamindb/Django methods.

Records are SQLAlchemy 2.0 typed ORM models. Like Django models (which lamindb's are), a record is
written only by `save()` / `delete()` / a relation manager, each in its own transaction, and it
stays attached to its store's session so relations load on attribute access.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from sqlalchemy import BigInteger, Boolean, Column, Enum, Float, Integer, String, Text, inspect, select
from sqlalchemy.orm import Mapped, Session, object_session
from sqlalchemy.orm.interfaces import MANYTOONE

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import UTCDateTime, utcnow
from flowprov.core.query.queryset import QuerySet
from flowprov.core.registry.rows import save_new
from flowprov.core.registry.versioning import VersionedBatch
from flowprov.core.registry.writer import insert_records
from flowprov.core.store.integrity import raise_integrity_error
from flowprov.core.store.model import Model

if TYPE_CHECKING:
    import pandas as pd

    from flowprov.core.query.lookup_object import Lookup
    from flowprov.core.query.q import Q
    from flowprov.core.store.connection import Store

# Columns a save fills in itself; clean_fields does not ask the user for them.
AUTO_FIELDS = {"id", "uid", "created_at", "updated_at", "created_by_id", "space_id", "is_latest"}


def _store_of(obj: Any) -> Store | None:
    session = object_session(obj)
    return session.info.get("store") if session is not None else None


class _ObjectsManager:
    """`Record.objects`: Django's manager name; lamindb code writes `ln.Artifact.objects.filter(...)`."""

    def __get__(self, instance: Any, owner: type[Record]) -> QuerySet[Any]:
        return QuerySet(owner)


class Record(Model):
    """Base of Transform, Run, Artifact, Collection, Space, User and Storage."""

    __abstract__ = True  # the mapped classes share Model's metadata
    objects = _ObjectsManager()

    _uid_len: ClassVar[int] = 0
    _versioned: ClassVar[bool] = False
    _init_fields: ClassVar[frozenset[str]] = frozenset()
    _query_aliases: ClassVar[dict[str, str]] = {}
    _query_values: ClassVar[dict[str, Any]] = {}
    _lookup_fields: ClassVar[tuple[str, ...]] = ()
    _repr_hidden: ClassVar[frozenset[str]] = frozenset({"id", "source_code"})

    if TYPE_CHECKING:
        # All but Space and User map the two foreign keys (id and uid: see Model), and code
        # setting them checks the record has them first.
        created_by_id: Mapped[int | None]
        space_id: Mapped[int | None]

    # -- construction ---------------------------------------------------------------------
    def _set_fields(self, fields: dict[str, Any]) -> None:
        unknown = sorted(set(fields) - self._init_fields)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s): {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(self._init_fields))}"
            )
        for name, value in fields.items():
            setattr(self, name, value)

    @classmethod
    def _relation_of_fk(cls) -> dict[str, str]:
        """Foreign-key column attribute -> the many-to-one relationship that sets it."""
        cached = cls.__dict__.get("_fk_relation_cache")
        if cached is None:
            cached = {}
            for rel in cls.__mapper__.relationships:
                if rel.direction is MANYTOONE and not rel.viewonly:
                    for local, _remote in rel.local_remote_pairs or ():
                        cached[cls.__mapper__.get_property_by_column(local).key] = rel.key
            cls._fk_relation_cache = cached
        return cached

    @classmethod
    def _many_to_one_keys(cls) -> list[str]:
        return list(dict.fromkeys(cls._relation_of_fk().values()))

    @property
    def pk(self) -> int | None:
        return self.id

    @property
    def _state(self) -> SimpleNamespace:
        """Django's model state, which lamindb code reads: `adding` until the record is saved."""
        store = _store_of(self)
        return SimpleNamespace(adding=self.id is None, db=store.display_url if store is not None else None)

    # -- repr -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        state = self.__dict__
        public = {attr: name for name, attr in self._query_aliases.items() if name in ("params", "path")}
        parts = []
        for attr in self.__mapper__.column_attrs:
            key = attr.key
            if key in self._repr_hidden or key not in state:
                continue
            value = state[key]
            if value is None or value == {} or value == []:
                continue
            label = public.get(key, key)
            if isinstance(value, dt.datetime):
                parts.append(f"{label}={value.strftime('%Y-%m-%d %H:%M:%S')} UTC")
            else:
                parts.append(f"{label}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- validation (Django's names and meaning) --------------------------------------------
    def clean(self) -> None:
        """Record-level checks across fields; subclasses override. Raises ValidationError."""

    def clean_fields(self, exclude: list[str] | None = None) -> None:
        """Check every field's type and length; raise one ValidationError listing all problems."""
        errors: dict[str, list[str]] = {}
        excluded = set(exclude or ())
        state = self.__dict__
        fk_relations = self._relation_of_fk()
        for key, label, column, auto, plainly_valid in self._field_checks():
            if key in excluded or key not in state:
                continue
            value = state[key]
            if plainly_valid(value):
                continue
            if value is None and state.get(fk_relations.get(key, "")) is not None:
                continue  # the foreign key is filled from the related record at insert
            message = _field_error(column, value, auto)
            if message:
                errors.setdefault(label, []).append(message)
        if errors:
            raise ValidationError(errors)

    @classmethod
    def _field_checks(cls) -> list[tuple[str, str, Any, bool, Callable[[Any], bool]]]:
        cached = cls.__dict__.get("_field_checks_cache")
        if cached is None:
            aliases = {attr: name for name, attr in cls._query_aliases.items() if attr.startswith("_")}
            cached = []
            for attr in cls.__mapper__.column_attrs:
                column = attr.columns[0]
                auto = attr.key in AUTO_FIELDS or column.default is not None or column.primary_key
                label = aliases.get(attr.key, attr.key)
                cached.append((attr.key, label, column, auto, _plainly_valid(column, auto)))
            cls._field_checks_cache = cached
        return cached

    def validate_unique(self, exclude: list[str] | None = None) -> None:
        """Check unique fields against the store (another record with the same uid, ...)."""
        excluded = set(exclude or ())
        errors: dict[str, list[str]] = {}
        store = _store_of(self) or self._default_store()
        for column in self.__table__.columns:
            if not column.unique or column.name in excluded:
                continue
            value = self.__dict__.get(column.key)
            if value is None:
                continue
            stmt = select(type(self).id).where(getattr(type(self), column.key) == value)
            if self.id is not None:
                stmt = stmt.where(type(self).id != self.id)
            try:
                clash = store.session.execute(stmt.limit(1)).first()
            finally:
                store.release()
            if clash is not None:
                errors.setdefault(column.key, []).append(str(self.unique_error_message(type(self), (column.key,))))
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: list[str] | None = None) -> None:
        """Check the record's constraints (see get_constraints) in Python before the store does."""
        excluded = set(exclude or ())
        errors: dict[str, list[str]] = {}
        for name, fields, predicate, message in getattr(self, "_checks", ()):
            if excluded.intersection(fields):
                continue
            values = [self.__dict__.get(f) for f in fields]
            if not predicate(*values):
                errors.setdefault(fields[0].lstrip("_"), []).append(f"{message} (constraint {name})")
        if errors:
            raise ValidationError(errors)

    def full_clean(
        self, exclude: list[str] | None = None, validate_unique: bool = True, validate_constraints: bool = True
    ) -> None:
        self.clean_fields(exclude)
        self.clean()
        if validate_unique:
            self.validate_unique(exclude)
        if validate_constraints:
            self.validate_constraints(exclude)

    @classmethod
    def get_constraints(cls) -> list[tuple[type, list[Any]]]:
        """[(record class, its table constraints: primary key, unique, foreign keys, checks)]."""
        return [(cls, sorted(cls.__table__.constraints, key=lambda c: str(c.name)))]

    def get_deferred_fields(self) -> set[str]:
        """Names of fields not loaded yet (they load from the store on access)."""
        unloaded = inspect(self).unloaded
        return {a.key for a in self.__mapper__.column_attrs if a.key in unloaded}

    def serializable_value(self, field_name: str) -> Any:
        """The field's value; for a foreign key relation, the related record's id."""
        rel = self.__mapper__.relationships.get(field_name)
        if rel is not None and rel.direction is MANYTOONE and rel.local_remote_pairs:
            local = rel.local_remote_pairs[0][0]
            return getattr(self, self.__mapper__.get_property_by_column(local).key)
        return getattr(self, field_name)

    def prepare_database_save(self, field: Any = None) -> int:
        if self.id is None:
            raise ValueError(f"{type(self).__name__} is not saved yet: save it before using it as a value")
        return self.id

    def date_error_message(self, lookup_type: str, field_name: str, unique_for: str) -> ValidationError:
        return ValidationError({field_name: [f"{field_name} must be unique for {unique_for} {lookup_type}."]})

    def unique_error_message(self, model_class: type, unique_check: tuple[str, ...]) -> ValidationError:
        fields = " and ".join(
            f.replace("_", " ").capitalize() if i == 0 else f.replace("_", " ") for i, f in enumerate(unique_check)
        )
        return ValidationError(f"{model_class.__name__} with this {fields} already exists.")

    # -- writing ----------------------------------------------------------------------------
    @staticmethod
    def _default_store() -> Store:
        from flowprov.core.store.connection import current_store

        return current_store()

    def _target_store(self, using: str | Store | None) -> Store:
        from flowprov.core.store.connection import Store, get_store

        if isinstance(using, Store):
            return using
        if using is not None:
            return get_store(using)
        return _store_of(self) or self._default_store()

    def save(self, *args: Any, **kwargs: Any) -> Self:
        """Validate the fields, then write the record in one transaction; returns the record.

        Transforms and artifacts are identified by content: saving one whose content is already
        stored returns the stored record (use the return value).
        """
        self._fill_defaults()
        self.clean_fields()
        self.clean()
        return self.save_base(*args, **kwargs)

    def save_base(
        self,
        raw: bool = False,
        force_insert: bool = False,
        force_update: bool = False,
        using: str | Store | None = None,
        update_fields: list[str] | None = None,
    ) -> Self:
        """Write without running clean_fields() (Django's lower-level save)."""
        store = self._target_store(using)
        self._fill_defaults()
        if force_update and self.id is None:
            raise ValueError(f"{type(self).__name__}: cannot force an update of an unsaved record")
        if inspect(self).transient:
            # a new record is one INSERT on the driver (core/registry/rows.py) when nothing else is needed
            with raise_integrity_error(type(self)):
                saved = save_new(self, store)
            if saved is not None:
                return cast(Self, saved)  # this record, or the stored one it duplicates
        with raise_integrity_error(type(self)), store.transaction() as session:
            canonical = self._prepare_write(session, store)
            if canonical is not None:
                return canonical
            if inspect(self).transient:
                insert_records(session, [self])
            else:
                session.add(self)
                session.flush()
        return self

    def _fill_defaults(self) -> None:
        """Give an unsaved record a value for every column, so reading one after the insert
        never costs a query (SQLAlchemy would otherwise reload columns it did not write)."""
        state = self.__dict__
        if state.get("created_at") is None and "created_at" in self.__mapper__.column_attrs:
            state["created_at"] = utcnow()
        if state.get("id") is not None:
            return
        fk_relations = self._relation_of_fk()
        for key, default in self._column_defaults():
            if key not in state and state.get(fk_relations.get(key, "")) is None:
                state[key] = default

    @classmethod
    def _column_defaults(cls) -> list[tuple[str, Any]]:
        cached = cls.__dict__.get("_column_defaults_cache")
        if cached is None:
            cached = []
            for attr in cls.__mapper__.column_attrs:
                if attr.key != "id":
                    default = attr.columns[0].default
                    cached.append((attr.key, default.arg if default is not None and default.is_scalar else None))
            cls._column_defaults_cache = cached
        return cached

    def _prepare_write(
        self, session: Session, store: Store, resolve_duplicates: bool = True, batch: set[int] | None = None
    ) -> Self | None:
        """Resolve relations and defaults; return an existing record this one duplicates.

        `batch` holds id() of the records saved together with this one: relations to them are
        fine even though they are unsaved yet (the writer inserts them first).
        """
        from flowprov.core.registry.user import current_user_id

        self._resolve_relations(session, store, batch)
        state = self.__dict__
        if "created_by_id" in state and state["created_by_id"] is None and state.get("created_by") is None:
            self.created_by_id = current_user_id(session, store)
        if "space_id" in state and state["space_id"] is None and state.get("space") is None:
            self.space_id = 1
        if resolve_duplicates and self._versioned and self.id is None and inspect(self).transient:
            existing = VersionedBatch(session, type(self), [self]).resolve()[0]
            if existing is not None:
                self._adopt(existing)
                return existing
        return None

    def _seen_again(self, existing: Self) -> None:
        """Called when this unsaved record turned out to be `existing` (content-addressed classes)."""

    def _adopt(self, existing: Record) -> None:
        """Make this unsaved duplicate carry the stored record's identity and values."""
        for attr in self.__mapper__.column_attrs:
            if attr.key in existing.__dict__:
                self.__dict__[attr.key] = existing.__dict__[attr.key]
        self._canonical = existing

    def _resolve_relations(self, session: Session, store: Store, batch: set[int] | None = None) -> None:
        for rel_key in self._many_to_one_keys():
            value = self.__dict__.get(rel_key)
            if value is None:
                continue
            value_state = inspect(value)
            if value_state.session is session or (batch and id(value) in batch and value.id is None):
                continue
            other = _store_of(value)
            if other is not None and other is not store:
                raise ValidationError(
                    {
                        rel_key: [
                            f"{value!r} belongs to store {other.display_url}, this record is saved to "
                            f"{store.display_url}; relations across stores are not possible"
                        ]
                    }
                )
            canonical = getattr(value, "_canonical", None)
            if canonical is not None and inspect(canonical).session is session:
                setattr(self, rel_key, canonical)
            elif value.id is not None and value_state.transient:
                setattr(self, rel_key, session.get(type(value), value.id))
            elif value_state.detached and value.id is not None:
                setattr(self, rel_key, session.merge(value, load=False))
            else:
                raise ValidationError({rel_key: [f"{type(value).__name__} {value!r} is not saved; save it first"]})

    @classmethod
    def _delete_ids(cls, store: Store, ids: list[Any], permanent: bool | None) -> int:
        """What `QuerySet.delete()` does to the rows it matched (registry/trash.py)."""
        from flowprov.core.registry.trash import delete_ids

        return delete_ids(store, cls, ids, permanent)

    def delete(
        self, permanent: bool | None = None, using: str | Store | None = None, storage: bool | None = None
    ) -> None:
        """Move the record to the trash (lamindb's `branch_id = -1`); `permanent=True` deletes it
        for good (link rows go with it; records that depend on it block it). See registry/trash.py.
        `storage` (lamindb's) is accepted and files are never touched: registration is in place."""
        from flowprov.core.registry.trash import delete_record, has_trash

        if self.id is None:
            raise ValueError(f"{type(self).__name__} is not saved, nothing to delete")
        delete_record(self, permanent, self._target_store(using))
        if permanent or not has_trash(type(self)):
            self.__dict__.pop("id", None)
            self.id = None

    def restore(self, using: str | Store | None = None) -> None:
        """Take the record out of the trash, back onto the main branch (`branch_id = 1`)."""
        from flowprov.core.registry.trash import restore_record

        restore_record(self, self._target_store(using))

    def refresh_from_db(
        self, using: str | Store | None = None, fields: list[str] | None = None, from_queryset: QuerySet | None = None
    ) -> None:
        """Reload field values from the store (all fields, or just `fields`)."""
        if self.id is None:
            raise ValueError(f"{type(self).__name__} is not saved, nothing to refresh from")
        store = self._target_store(using)
        session = object_session(self)
        if from_queryset is None and session is store.session:
            try:
                session.refresh(self, attribute_names=fields)
            finally:
                store.release()
            return
        source = (from_queryset if from_queryset is not None else QuerySet(type(self), store)).filter(id=self.id).one()
        for attr in self.__mapper__.column_attrs:
            if fields is None or attr.key in fields:
                self.__dict__[attr.key] = getattr(source, attr.key)

    async def asave(self, *args: Any, **kwargs: Any) -> Self:
        """Async save (runs the save in the calling thread, like Django's thread-sensitive asave)."""
        return self.save(*args, **kwargs)

    async def adelete(self, *args: Any, **kwargs: Any) -> None:
        self.delete(*args, **kwargs)

    async def arefresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        self.refresh_from_db(*args, **kwargs)

    # -- versions (lamindb's IsVersioned API; records sharing a uid stem are one family) -------
    @property
    def versions(self) -> QuerySet[Self]:
        """Every version of this record's family, oldest first (`is_latest` marks the head)."""
        if not self._versioned:
            raise AttributeError(f"{type(self).__name__} records are not versioned")
        stem = self.uid[: self._uid_len - 4]
        return QuerySet(type(self), self._target_store(None)).filter(uid__startswith=stem).order_by("id")

    @property
    def stem_uid(self) -> str:
        """The uid without its 4-character version suffix: the same for every version (lamindb)."""
        if not self._versioned:
            raise AttributeError(f"{type(self).__name__} records are not versioned")
        return self.uid[: self._uid_len - 4]

    @property
    def version_tag(self) -> str | None:
        """lamindb 2.x's name of the `version` field (the user's version label)."""
        if not self._versioned:
            raise AttributeError(f"{type(self).__name__} records are not versioned")
        return getattr(self, "version", None)

    @version_tag.setter
    def version_tag(self, value: str | None) -> None:
        if not self._versioned:
            raise AttributeError(f"{type(self).__name__} records are not versioned")
        self.version = value  # every versioned class maps version

    def describe(self, return_str: bool = False) -> str | None:
        """Print a short tree of the record's fields, relations and lineage (or return it)."""
        from flowprov.core.registry.describe import describe_text

        text = describe_text(self)
        if return_str:
            return text
        print(text)
        return None

    # -- class-level queries (lamindb's Run page) -------------------------------------------
    @classmethod
    def filter(cls, *queries: Q, **expressions: Any) -> QuerySet[Self]:
        """Records matching Django-style lookups, e.g. `Run.filter(transform__name="x")`."""
        return QuerySet(cls).filter(*queries, **expressions)

    @classmethod
    def exclude(cls, *queries: Q, **expressions: Any) -> QuerySet[Self]:
        return QuerySet(cls).exclude(*queries, **expressions)

    @classmethod
    def get(cls, idlike: int | str | None = None, **expressions: Any) -> Self:
        """One record by id, uid (or a uid prefix), or field values; raises DoesNotExist."""
        return QuerySet(cls).get(idlike, **expressions)

    @classmethod
    def all(cls) -> QuerySet[Self]:
        return QuerySet(cls)

    @classmethod
    def df(
        cls, include: str | list[str] | None = None, features: bool = False, limit: int | None = 100
    ) -> pd.DataFrame:
        """The latest records as a DataFrame (`limit=None` for all)."""
        return QuerySet(cls).order_by("-id").df(include=include, features=features, limit=limit)

    to_dataframe = df

    @classmethod
    def lookup(cls, field: Any = None, return_field: Any = None) -> Lookup:
        """An object with one attribute per value of `field`, for tab completion."""
        return QuerySet(cls).lookup(field=field, return_field=return_field)

    @classmethod
    def search(
        cls, string: str, *, field: str | list[str] | None = None, limit: int | None = 20, case_sensitive: bool = False
    ) -> QuerySet[Self]:
        """Records ranked by how well their text fields match `string` (typos tolerated)."""
        return QuerySet(cls).search(string, field=field, limit=limit, case_sensitive=case_sensitive)

    @classmethod
    def using(cls, instance: str | Store) -> QuerySet[Self]:
        """The same queries against another store: a configured name or a URL."""
        from flowprov.core.store.connection import Store, get_store

        return QuerySet(cls, instance if isinstance(instance, Store) else get_store(instance))


def field_problem(column: Column[Any], value: Any) -> str | None:
    """What is wrong with `value` for `column` by the rules of save(), or None (for write paths
    that do not build records, such as the Recorder's)."""
    return _field_error(column, value, auto=False)


def json_problem(value: Any) -> str | None:
    """What no store can hold in a JSON value: NUL characters (PostgreSQL), NaN and infinity."""
    if isinstance(value, str):
        return "NUL characters cannot be stored" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} cannot be stored (JSON has no NaN or infinity)"
    if isinstance(value, dict):
        for k, v in value.items():
            problem = json_problem(k) or json_problem(v)
            if problem:
                return f"{k!r}: {problem}"
    elif isinstance(value, (list, tuple)):
        for v in value:
            problem = json_problem(v)
            if problem:
                return problem
    return None


def _plainly_valid(column: Any, auto: bool) -> Callable[[Any], bool]:
    """A quick test that passes the usual valid values of `column` (exact types, short enough),
    so clean_fields() on every save costs a few comparisons; anything else gets _field_error."""
    base = getattr(column.type, "impl", column.type)
    none_ok = column.nullable or auto
    if isinstance(column.type, UTCDateTime):
        return lambda v: type(v) is dt.datetime or (v is None and none_ok)
    if isinstance(base, (String, Text)) and not isinstance(base, Enum):
        limit = getattr(base, "length", None) or sys.maxsize
        return lambda v: (type(v) is str and len(v) <= limit and "\x00" not in v) or (v is None and none_ok)
    if isinstance(base, (Integer, BigInteger)) and not isinstance(base, Boolean):
        return lambda v: type(v) is int or (v is None and none_ok)
    return lambda v: v is None and none_ok


def _field_error(column: Column[Any], value: Any, auto: bool) -> str | None:
    """The Django-style message for an invalid value of `column`, or None."""
    if value is None:
        if not column.nullable and not auto:
            return "This field cannot be null."
        return None
    col_type = column.type
    base = getattr(col_type, "impl", col_type)
    if isinstance(col_type, UTCDateTime):
        if not isinstance(value, dt.datetime):
            return f"Expected a datetime, got {type(value).__name__} {value!r}."
        return None
    if isinstance(base, Boolean):
        return None if isinstance(value, bool) else f"Expected True or False, got {value!r}."
    if isinstance(base, (Integer, BigInteger)):
        return (
            None
            if isinstance(value, int) and not isinstance(value, bool)
            else f"Expected an integer, got {type(value).__name__} {value!r}."
        )
    if isinstance(base, Float):
        return (
            None
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else f"Expected a number, got {value!r}."
        )
    if isinstance(base, (String, Text)):
        if not isinstance(value, str):
            return f"Expected a string, got {type(value).__name__} {value!r}."
        length = getattr(base, "length", None)
        if length is not None and len(value) > length:
            return f"Ensure this value has at most {length} characters (it has {len(value)})."
        return "NUL characters cannot be stored (PostgreSQL refuses them)." if "\x00" in value else None
    if type(base).__name__ == "JSON":
        if not isinstance(value, dict):
            return f"Expected a dict, got {type(value).__name__} {value!r}."
        problem = json_problem(value)
        return f"{problem}." if problem else None
    return None
