"""Turn Django-style keyword lookups (`transform__name__startswith="Cell"`) into SQL conditions.

Field names are checked against the record's mapper before anything becomes SQL, and every value
is a bound parameter. Relations are followed with `IN (subquery)` rather than joins, so a filter
never duplicates rows and `exclude()` is a plain `NOT`.

Record classes can declare two hooks the resolver honours:
- `_query_aliases`: public name -> mapped attribute (`"params"` -> `"_params"`);
- `_query_values`: public name -> function converting a user value (`status="completed"` -> 0).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text, and_, not_, select
from sqlalchemy.orm import Mapper, RelationshipProperty, aliased
from sqlalchemy.orm.interfaces import MANYTOMANY, MANYTOONE, ONETOMANY
from sqlalchemy.orm.util import AliasedClass
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import JSON, TypeEngine

from flowprov.core.exceptions import FieldError, InvalidArgument, ValidationError
from flowprov.core.query.json_index import indexed_condition
from flowprov.core.query.sqlfuncs import CaseInsensitiveRegex, JsonTypeIn, JsonValue

LOOKUPS = (
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "range",
    "isnull",
    "regex",
    "iregex",
)
STRING_LOOKUPS = {
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "regex",
    "iregex",
}
# Filters on JSON columns with a side table of leaves read it (tests turn it off to compare)
USE_JSON_INDEX = True
# What conditions are built on: a record class, or an alias of one (a relation's target).
Entity: TypeAlias = type[Any] | AliasedClass[Any]


def _mapper(entity: Entity) -> Mapper[Any]:
    from sqlalchemy import inspect

    # a Mapper's .mapper is itself; an alias's inspection (AliasedInsp) has the mapper it aliases
    mapper: Mapper[Any] = inspect(entity, raiseerr=True).mapper
    return mapper


def _model_class(entity: Entity) -> type[Any]:
    return _mapper(entity).class_


def field_names(model: Entity) -> list[str]:
    """Public names a filter accepts on `model` (columns, relations, aliases)."""
    mapper = _mapper(model)
    cls = mapper.class_
    aliases = getattr(cls, "_query_aliases", {})
    hidden = {attr for attr in aliases.values() if attr.startswith("_")}  # private columns, public names
    names = [c.key for c in mapper.column_attrs if c.key not in hidden and not c.key.startswith("_")]
    names += [r.key.lstrip("_") for r in mapper.relationships]
    names += list(aliases)
    return sorted(set(names))


def _attribute_name(model: Entity, name: str) -> str | None:
    mapper = _mapper(model)
    cls = mapper.class_
    name = getattr(cls, "_query_aliases", {}).get(name, name)
    if name in mapper.attrs:
        return name
    if "_" + name in mapper.relationships:
        return "_" + name
    return None


def _unknown_field(model: Entity, name: str) -> FieldError:
    cls = _model_class(model)
    return InvalidArgument(
        f"{cls.__name__} has no field {name!r}. You can query either by available fields: "
        f"{', '.join(field_names(model))}"
    )


def column_attribute(model: Entity, name: str) -> str:
    """The mapped column attribute a public field name stands for (aliases resolved); the
    InvalidArgument (a FieldError) listing the valid fields when `name` is not a column."""
    attr = _attribute_name(model, name)
    if attr is None or attr not in _mapper(model).column_attrs:
        raise _unknown_field(model, name)
    return attr


def _record_id(value: Any, what: str) -> Any:
    """A record's id for comparisons with relations (a record, an int, or None)."""
    if value is None or isinstance(value, int):
        return value
    record_id = getattr(value, "id", None)
    if record_id is None:
        raise FieldError(f"{what}: cannot compare with an unsaved record {value!r}; save it first")
    return record_id


def build_condition(entity: Entity, key: str, value: Any) -> ColumnElement[bool]:
    """The SQL condition for one keyword of `filter(**kwargs)` on `entity` (a class or an alias)."""
    parts = key.split("__")
    return _resolve(entity, parts, value, key)


def _resolve(entity: Entity, parts: list[str], value: Any, key: str) -> ColumnElement[bool]:
    name, rest = parts[0], parts[1:]
    attr_name = _attribute_name(entity, name)
    cls = _model_class(entity)
    if attr_name is None:
        # lamindb: Run.filter(genome=...) is a param filter when no field has that name
        fallback = getattr(cls, "_unknown_name_prefix", None)
        if fallback is not None and fallback(name):
            return _resolve(entity, ["params", *parts], value, key)
        raise _unknown_field(entity, name)
    convert = getattr(cls, "_query_values", {}).get(name)
    if convert is not None:
        lookup = rest[0] if rest else "exact"
        if lookup in ("in", "range"):
            value = [convert(v) for v in value]
        elif lookup != "isnull":
            value = convert(value)
    mapper = _mapper(entity)
    if attr_name in mapper.relationships:
        return _resolve_relation(entity, mapper.relationships[attr_name], rest, value, key)
    prop = mapper.column_attrs[attr_name]
    column = getattr(entity, attr_name)
    column_type = prop.columns[0].type
    if isinstance(column_type, JSON):  # JSONType is JSON with a JSONB variant, still a JSON
        side_table = getattr(cls, "_json_index", {}).get(attr_name)
        return _resolve_json(column, rest, value, key, (entity, side_table) if side_table is not None else None)
    if len(rest) > 1 or (rest and rest[0] not in LOOKUPS):
        bad = rest[0] if rest[0] not in LOOKUPS else rest[1]
        raise FieldError(
            f"{key}: {name!r} is not a relation or JSON field, so {bad!r} cannot follow it; lookups: {', '.join(LOOKUPS)}"
        )
    lookup = rest[0] if rest else "exact"
    return apply_lookup(column, lookup, _check_value(column_type, lookup, value, key), key)


def _resolve_relation(
    entity: Entity, prop: RelationshipProperty[Any], rest: list[str], value: Any, key: str
) -> ColumnElement[bool]:
    target = aliased(prop.mapper.class_)
    if not rest or rest == ["exact"]:
        return _relation_condition(entity, prop, target, target.id == _record_id(value, key))
    if rest == ["in"]:
        ids = [_record_id(v, key) for v in value]
        return _relation_condition(entity, prop, target, target.id.in_(ids))
    if rest == ["isnull"]:
        if prop.direction is MANYTOONE:
            local = getattr(entity, _mapper(entity).get_property_by_column(_pairs(prop.local_remote_pairs)[0][0]).key)
            return local.is_(None) if value else local.is_not(None)
        has_any = _relation_condition(entity, prop, target, None)
        return not_(has_any) if value else has_any
    return _relation_condition(entity, prop, target, _resolve(target, rest, value, key))


def _relation_condition(
    entity: Entity, prop: RelationshipProperty[Any], target: Entity, condition: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    """`entity` rows related through `prop` to some `target` row matching `condition`."""
    mapper = _mapper(entity)
    target_mapper = _mapper(target)

    def local_attr(col: ColumnElement[Any]) -> Any:
        return getattr(entity, mapper.get_property_by_column(col).key)

    def target_attr(col: ColumnElement[Any]) -> Any:
        return getattr(target, target_mapper.get_property_by_column(col).key)

    where = [condition] if condition is not None else []
    if prop.direction is MANYTOONE:
        local_col, remote_col = _pairs(prop.local_remote_pairs)[0]
        return local_attr(local_col).in_(select(target_attr(remote_col)).where(*where))
    if prop.direction is ONETOMANY:
        local_col, remote_col = _pairs(prop.local_remote_pairs)[0]
        return local_attr(local_col).in_(select(target_attr(remote_col)).where(*where))
    assert prop.direction is MANYTOMANY
    ((local_col, link_local),) = prop.synchronize_pairs
    ((remote_col, link_remote),) = _pairs(prop.secondary_synchronize_pairs)
    inner = select(link_local)
    if where:
        inner = inner.where(link_remote.in_(select(target_attr(remote_col)).where(*where)))
    return local_attr(local_col).in_(inner)


ColumnPairs: TypeAlias = Sequence[tuple[ColumnElement[Any], ColumnElement[Any]]]


def _pairs(pairs: ColumnPairs | None) -> ColumnPairs:
    """A relationship's column pairs (typed optional; always set once the mappers are configured)."""
    assert pairs is not None
    return pairs


def _json_key(part: str, key: str) -> str | int:
    if part.isdigit():
        return int(part)
    if '"' in part or "\x00" in part:  # SQLite's JSON paths cannot name such a key; PostgreSQL's JSONB cannot hold NUL
        raise ValidationError({key: [f"the JSON key {part!r} cannot be filtered on (it holds a double quote or NUL)"]})
    return part


def _resolve_json(
    column: Any, rest: list[str], value: Any, key: str, index: tuple[Entity, Any] | None = None
) -> ColumnElement[bool]:
    """A condition on a JSON column; `index` (the entity and its side table of leaves) answers
    the lookups it holds exactly (json_index), the JSON itself is read for the rest."""
    lookup = "exact"
    if rest and rest[-1] in LOOKUPS:
        lookup, rest = rest[-1], rest[:-1]
    if not rest:
        if lookup == "isnull":
            return column.is_(None) if value else column.is_not(None)
        raise FieldError(f"{key}: name a key inside the JSON field, e.g. {key.split('__')[0]}__my_key=...")
    path = tuple(_json_key(p, key) for p in rest)
    if lookup == "isnull":
        missing = JsonTypeIn(column, path, ("null",))
        return missing if value else not_(missing)
    sample = value[0] if lookup in ("in", "range") and value else value
    if index is not None and USE_JSON_INDEX and sample is not None:
        values = value
        if isinstance(sample, (dt.date, dt.datetime)):
            values = [v.isoformat() for v in value] if lookup in ("in", "range") else value.isoformat()
        indexed = indexed_condition(index[0], index[1], path, lookup, values)
        if indexed is not None:
            return indexed
    if sample is None:
        if lookup == "exact":
            return JsonTypeIn(column, path, ("null",))
        raise FieldError(f"{key}: None only works with exact or isnull")
    if isinstance(sample, bool):
        if lookup not in ("exact", "in"):
            raise FieldError(f"{key}: a boolean value only supports exact and in")
        return and_(
            JsonTypeIn(column, path, ("boolean",)), apply_lookup(JsonValue(column, path, "boolean"), lookup, value, key)
        )
    if isinstance(sample, (int, float)):
        if lookup in STRING_LOOKUPS:
            raise FieldError(f"{key}: lookup {lookup!r} needs a string value, got {sample!r}")
        return and_(
            JsonTypeIn(column, path, ("number",)), apply_lookup(JsonValue(column, path, "number"), lookup, value, key)
        )
    if isinstance(sample, (dt.date, dt.datetime)):
        value = [v.isoformat() for v in value] if lookup in ("in", "range") else value.isoformat()
        return _type_guarded(
            apply_lookup(JsonValue(column, path, "string"), lookup, value, key), JsonTypeIn(column, path, ("string",))
        )
    if isinstance(sample, str):
        return _type_guarded(
            apply_lookup(JsonValue(column, path, "string"), lookup, value, key), JsonTypeIn(column, path, ("string",))
        )
    raise FieldError(f"{key}: cannot compare a JSON value with {type(sample).__name__} {sample!r}")


def _type_guarded(comparison: ColumnElement[bool], guard: ColumnElement[bool]) -> ColumnElement[bool]:
    # For string comparisons only, the comparison goes first: SQLite evaluates AND left to right, so
    # the type check (a second JSON parse) runs only on rows that matched. Numbers and booleans keep
    # the guard first: PostgreSQL's CAST of a non-number would fail before the guard could say no.
    return and_(comparison, guard)


def _check_value(column_type: TypeEngine[Any], lookup: str, value: Any, key: str) -> Any:
    """Reject values that cannot be compared with the column, naming the field."""
    if lookup == "isnull":
        if not isinstance(value, bool):
            raise FieldError(f"{key}: isnull takes True or False, got {value!r}")
        return value
    if lookup in ("in", "range"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise FieldError(f"{key}: {lookup} takes a list of values, got {value!r}")
        values = list(value)
        if lookup == "range" and len(values) != 2:
            raise FieldError(f"{key}: range takes two values (low, high), got {len(values)}")
        return [_check_scalar(column_type, "exact", v, key) for v in values]
    return _check_scalar(column_type, lookup, value, key)


def _check_scalar(column_type: TypeEngine[Any], lookup: str, value: Any, key: str) -> Any:
    base = getattr(column_type, "impl", column_type)
    is_string = isinstance(base, (String, Text))
    if lookup in STRING_LOOKUPS and not is_string:
        raise FieldError(f"{key}: lookup {lookup!r} only works on text fields, not {type(base).__name__}")
    if value is None:
        if lookup != "exact":
            raise FieldError(f"{key}: None only works with exact or isnull")
        return None
    if isinstance(base, DateTime):
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                raise FieldError(
                    f"{key}: cannot read {value!r} as a date/time (use ISO 8601, e.g. 2026-01-31T12:00:00+00:00)"
                ) from None
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        if not isinstance(value, dt.datetime):
            raise FieldError(f"{key}: expected a datetime, got {type(value).__name__} {value!r}")
        return value
    if isinstance(base, Boolean):
        if not isinstance(value, bool):
            raise FieldError(f"{key}: expected True or False, got {value!r}")
        return value
    if isinstance(base, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            # lamindb's (Django's) words: "Field 'id' expected a number but got 'abc'."
            raise FieldError(f"Field {key!r} expected a number but got {value!r}.")
        return value
    if isinstance(base, Float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        return value
    if getattr(column_type, "local_paths_as_uri", False) and isinstance(value, os.PathLike):
        value = Path(value).absolute().as_uri()  # Artifact.filter(path=artifact.path)
    if is_string and not isinstance(value, str):
        raise FieldError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
    return value


def apply_lookup(column: SQLCoreOperations[Any], lookup: str, value: Any, key: str) -> ColumnElement[bool]:
    if lookup == "exact":
        return column.is_(None) if value is None else column == value
    if lookup == "iexact":
        return column.ilike(_escape_like(value), escape="\\")
    if lookup == "contains":
        return column.contains(value, autoescape=True)
    if lookup == "icontains":
        return column.icontains(value, autoescape=True)
    if lookup == "startswith":
        return column.startswith(value, autoescape=True)
    if lookup == "istartswith":
        return column.istartswith(value, autoescape=True)
    if lookup == "endswith":
        return column.endswith(value, autoescape=True)
    if lookup == "iendswith":
        return column.iendswith(value, autoescape=True)
    if lookup == "in":
        return column.in_(list(value))
    if lookup == "gt":
        return column > value
    if lookup == "gte":
        return column >= value
    if lookup == "lt":
        return column < value
    if lookup == "lte":
        return column <= value
    if lookup == "range":
        low, high = value
        return column.between(low, high)
    if lookup == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if lookup == "regex":
        return column.regexp_match(value)
    if lookup == "iregex":
        return CaseInsensitiveRegex(column, value)
    raise FieldError(f"{key}: unknown lookup {lookup!r}; lookups: {', '.join(LOOKUPS)}")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
