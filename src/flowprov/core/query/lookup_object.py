"""`Record.lookup()`: an object with one attribute per value of a field, for tab completion.

Naming rule (deterministic): lower-case the value, turn every run of characters that are not
letters or digits into "_", strip "_" at both ends; a name starting with a digit gets a leading
"_"; a Python keyword gets a trailing "_"; an empty result becomes "_". When two values give the
same name, the first in sorted order of the raw values keeps it and the others get "_2", "_3", ...
"""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Text

from flowprov.core.query.lookups import column_attribute

if TYPE_CHECKING:
    from flowprov.core.query.queryset import QuerySet
    from flowprov.core.store.model import Model


def to_attribute_name(value: Any) -> str:
    name = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    if not name:
        return "_"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name += "_"
    return name


def default_lookup_field(model: type[Model]) -> str:
    """The first text field other than the uid (Run: name, Transform: key, User: handle)."""
    for attr in model.__mapper__.column_attrs:
        column_type = attr.columns[0].type
        if (
            attr.key != "uid"
            and not attr.key.startswith("_")
            and isinstance(getattr(column_type, "impl", column_type), (String, Text))
        ):
            return attr.key
    return "uid"


class Lookup:
    """Attributes named after field values; `.dict()` maps the raw values to the same objects."""

    def __init__(self, field: str, mapping: dict[str, Any], raw: dict[Any, Any]):
        self._field = field
        self._mapping = mapping
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_mapping"][name]
        except KeyError:
            raise AttributeError(
                f"no {self.__dict__.get('_field')} value named {name!r}; see dir() for the names"
            ) from None

    def __getitem__(self, name: str) -> Any:
        return self._mapping[name]

    def __dir__(self) -> list[str]:
        return sorted(self._mapping)

    def _ipython_key_completions_(self) -> list[str]:
        return sorted(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def dict(self) -> dict[Any, Any]:
        return dict(self._raw)

    def __repr__(self) -> str:
        names = sorted(self._mapping)
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return f"Lookup({self._field}: {shown})"


def make_lookup(qs: QuerySet, field: str | None = None, return_field: str | None = None) -> Lookup:
    model = qs.model
    if field is None and model._lookup_fields:
        return _fallback_lookup(qs, model._lookup_fields, return_field)
    field = field or default_lookup_field(model)
    attr = column_attribute(model, field)
    if return_field is not None:
        column_attribute(model, return_field)
    records = qs.filter(**{f"{field}__isnull": False}).list()
    return _build_lookup(field, [(getattr(r, attr), r) for r in records], return_field)


def _fallback_lookup(qs: QuerySet, fields: tuple[str, ...], return_field: str | None) -> Lookup:
    """Each record under the first of `fields` it has a value for (Transform: key, else name)."""
    if return_field is not None:
        column_attribute(qs.model, return_field)
    pairs = []
    for record in qs.list():
        value = next((getattr(record, f) for f in fields if getattr(record, f) is not None), None)
        if value is not None:
            pairs.append((value, record))
    return _build_lookup("/".join(fields), pairs, return_field)


def _build_lookup(field: str, pairs: list[tuple[Any, Any]], return_field: str | None) -> Lookup:
    grouped: dict[Any, list] = {}
    for value, record in pairs:
        grouped.setdefault(value, []).append(getattr(record, return_field) if return_field else record)
    raw = {k: (v[0] if len(v) == 1 else v) for k, v in grouped.items()}
    mapping: dict[str, Any] = {}
    for value in sorted(raw, key=str):
        base = to_attribute_name(value)
        name, n = base, 1
        while name in mapping:
            n += 1
            name = f"{base}_{n}"
        mapping[name] = raw[value]
    return Lookup(field, mapping, raw)
