"""Filters on a JSON column through its side table of flattened leaves (`Run.filter(params__x=1)`).

A run's params are flattened by database triggers into `flowprov_run_param` (schema 0004): one row
per scalar leaf with its path, JSON kind ("number", "string", "boolean") and value, indexed by
(path, kind, number, string). A filter that the table answers exactly becomes
`run.id IN (SELECT run_id FROM flowprov_run_param WHERE path = ... AND num > ...)`, an index
lookup instead of parsing every run's JSON; anything else (string pattern lookups, None, long
paths or strings that the table leaves out) keeps the JSON scan. Both give the same rows: the
JSON scan's type guard is the `kind` column, its value comparison the `num` / `txt` column.

Paths: PostgreSQL keeps the text array `#>` takes (`{a,0}`); SQLite keeps json_tree's `fullkey`,
which quotes some keys (`$."lr_max"`) and not others, and SQLite versions differ in which; a
query matches both spellings of each key, and neither can be another key's.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Table, and_, select
from sqlalchemy.sql.expression import ColumnElement

from flowprov.core.query.sqlfuncs import PLAIN_KEY, LeafPathIs

LIMIT = 200  # the migration indexes paths and string values up to this many characters
_SAFE_KEY = re.compile(r"[ -~]+")  # printable ASCII: written in the JSON text as it is
INDEXED_LOOKUPS = {
    "number": {"exact", "in", "gt", "gte", "lt", "lte", "range"},
    "string": {"exact", "in"},
    "boolean": {"exact", "in"},
}
_MAX_SPELLINGS = 16


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _indexable_path(path: tuple[str | int, ...]) -> bool:
    """Keys the side table spells the same on every store and SQLite version (see LeafPathIs)."""
    if sum(len(str(p)) + 3 for p in path) + 1 > LIMIT:
        return False
    keys = [p for p in path if not isinstance(p, int)]
    if any(not _SAFE_KEY.fullmatch(k) or "\\" in k or '"' in k for k in keys):
        return False
    return 2 ** sum(1 for k in keys if PLAIN_KEY.fullmatch(k)) <= _MAX_SPELLINGS


def indexed_condition(
    entity: Any, table: Table, path: tuple[str | int, ...], lookup: str, value: Any
) -> ColumnElement[bool] | None:
    """`entity.id IN (rows of `table` matching)`, or None when the side table cannot answer exactly."""
    values = list(value) if lookup in ("in", "range") else [value]
    kinds = {_kind(v) for v in values}
    if len(kinds) != 1 or (kind := kinds.pop()) is None or lookup not in INDEXED_LOOKUPS[kind]:
        return None
    if (lookup == "range" and len(values) != 2) or not _indexable_path(path):
        return None
    if kind == "string" and any(len(v) > LIMIT for v in values):
        return None
    if kind == "number" and any(isinstance(v, int) and abs(v) >= 2**63 for v in values):
        return None  # beyond a 64-bit integer: the JSON scan's own comparison decides
    if kind == "boolean":
        values = [int(v) for v in values]
    where = and_(LeafPathIs(table.c.path, path), table.c.kind == kind)
    if kind == "string":  # the index is (path, kind, num, txt): strings have num NULL
        where = and_(where, table.c.num.is_(None), _compare(table.c.txt, lookup, values))
    else:
        where = and_(where, _compare(table.c.num, lookup, values))
    return entity.id.in_(select(table.c.run_id).where(where))


def _compare(column: Any, lookup: str, values: list[Any]) -> ColumnElement[bool]:
    first = values[0]
    comparisons = {
        "exact": lambda: column == first,
        "in": lambda: column.in_(values),
        "gt": lambda: column > first,
        "gte": lambda: column >= first,
        "lt": lambda: column < first,
        "lte": lambda: column <= first,
        "range": lambda: column.between(values[0], values[1]),
    }
    condition: ColumnElement[bool] = comparisons[lookup]()
    return condition
