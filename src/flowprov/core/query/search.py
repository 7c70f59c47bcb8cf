"""`Record.search()`: rank records by how well their text fields match a string.

Scores (per record, the best over the searched fields): 100 exact match, 90 the query as a whole
word, 80 a prefix, 70 a substring, below that a fuzzy similarity (difflib ratio × 60, and a record
must reach 30 to be kept) so typos like "Cell Rangr" still find "Cell Ranger".

The database narrows the candidates first: a record is considered only when some searched field
contains the query, one of its words, or one of its 3-letter pieces (case-insensitively), at
most MAX_CANDIDATES of them. The whole table is never loaded.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

from sqlalchemy import String, Text, case, or_

from flowprov.core.exceptions import FieldError
from flowprov.core.query.lookups import column_attribute

if TYPE_CHECKING:
    from flowprov.core.query.queryset import QuerySet
    from flowprov.core.store.model import Model

MAX_CANDIDATES = 5000
MIN_FUZZY_SCORE = 30.0


def text_fields(model: type[Model]) -> list[str]:
    return [
        a.key
        for a in model.__mapper__.column_attrs
        if isinstance(getattr(a.columns[0].type, "impl", a.columns[0].type), (String, Text))
        and not a.key.startswith("_")
        and a.key not in ("hash", "source_code")
    ]


def score_value(query: str, value: str, case_sensitive: bool) -> float:
    if not case_sensitive:
        query, value = query.lower(), value.lower()
    if value == query:
        return 100.0
    if re.search(rf"(?<![0-9A-Za-z]){re.escape(query)}(?![0-9A-Za-z])", value):
        return 90.0
    if value.startswith(query):
        return 80.0
    if query in value:
        return 70.0
    best = difflib.SequenceMatcher(None, query, value).ratio()
    for word in re.split(r"[^0-9A-Za-z]+", value):
        if word:
            best = max(best, difflib.SequenceMatcher(None, query, word).ratio())
    return round(best * 60.0, 2)


def _pieces(query: str) -> set[str]:
    words = {w for w in re.split(r"\s+", query) if w}
    grams = {query[i : i + 3] for i in range(max(len(query) - 2, 0)) if query[i : i + 3].strip()}
    return {query} | words | grams


def search_queryset(
    qs: QuerySet,
    string: str,
    *,
    field: str | list[str] | None = None,
    limit: int | None = 20,
    case_sensitive: bool = False,
) -> QuerySet:
    if not isinstance(string, str) or not string.strip():
        raise ValueError("search() needs a non-empty string")
    model = qs.model
    fields = [field] if isinstance(field, str) else list(field or text_fields(model))
    columns = {}
    for name in fields:
        attr = column_attribute(model, name)
        column_type = model.__mapper__.column_attrs[attr].columns[0].type
        if not isinstance(getattr(column_type, "impl", column_type), (String, Text)):
            raise FieldError(f"search(field={name!r}): {name} is not a text field")
        columns[name] = getattr(model, attr)
    pieces = _pieces(string.strip())
    narrow = or_(
        *[
            (col.contains(p, autoescape=True) if case_sensitive else col.icontains(p, autoescape=True))
            for col in columns.values()
            for p in pieces
        ]
    )
    store = qs.store
    try:
        rows = store.session.execute(
            qs.filter(narrow).statement(model.id, *columns.values()).limit(MAX_CANDIDATES)
        ).all()
    finally:
        store.release()
    scores: dict[int, float] = {}
    for row in rows:
        values = [v for v in row[1:] if isinstance(v, str)]
        best = max((score_value(string.strip(), v, case_sensitive) for v in values), default=0.0)
        if best >= MIN_FUZZY_SCORE:
            scores[row[0]] = best
    ranked = sorted(scores, key=lambda i: (-scores[i], i))
    if limit is not None:
        ranked = ranked[:limit]
    result = qs.filter(model.id.in_(ranked))
    if ranked:
        result._order = [case({i: n for n, i in enumerate(ranked)}, value=model.id).asc()]
    result._annotations = {"score": {i: scores[i] for i in ranked}}
    return result
