"""SQL constructs that compile differently on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


def _sqlite_json_path(path: tuple[str | int, ...]) -> str:
    out = "$"
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else '."' + str(key).replace('"', '\\"') + '"'
    return out


class JsonTypeIn(ColumnElement[bool]):
    """True when the JSON value at `path` in `column` has one of the given JSON types.

    Types are named the PostgreSQL way: "number", "string", "boolean", "object", "array", "null";
    a missing key (or a NULL column) counts as "null".
    Comparisons on JSON values are guarded with this, so `params__x__gt=1` skips runs whose `x`
    is a string instead of failing a cast on PostgreSQL or comparing text to numbers on SQLite.
    """

    type = Boolean()
    # path and types are written into the SQL text, so they are part of the statement cache key
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("path", InternalTraversal.dp_plain_obj),
        ("json_types", InternalTraversal.dp_plain_obj),
    ]
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], path: tuple[str | int, ...], json_types: tuple[str, ...]) -> None:
        self.column = column
        self.path = tuple(path)
        self.json_types = tuple(json_types)


_SQLITE_TYPES = {
    "number": ("integer", "real"),
    "string": ("text",),
    "boolean": ("true", "false"),
    "object": ("object",),
    "array": ("array",),
    "null": ("null",),
}


@compiles(JsonTypeIn, "sqlite")
def _json_type_in_sqlite(element: JsonTypeIn, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    path = _sqlite_json_path(element.path).replace("'", "''")
    names = [n for t in element.json_types for n in _SQLITE_TYPES[t]]
    return f"COALESCE(json_type({col}, '{path}'), 'null') IN ({', '.join(repr(n) for n in names)})"


@compiles(JsonTypeIn, "postgresql")
def _json_type_in_pg(element: JsonTypeIn, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    parts = ",".join('"' + str(p).replace('"', '\\"') + '"' for p in element.path).replace("'", "''")
    return (
        f"COALESCE(jsonb_typeof({col} #> '{{{parts}}}'), 'null') IN ({', '.join(repr(t) for t in element.json_types)})"
    )


class CaseInsensitiveRegex(ColumnElement[bool]):
    """`column` matches the regular expression `pattern`, ignoring case.

    SQLAlchemy drops the flags of `regexp_match` on SQLite, so SQLite gets Python's inline `(?i)`.
    """

    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True

    def __init__(self, column: SQLCoreOperations[Any], pattern: str) -> None:
        # an ORM attribute compiles as its column (it proxies _compiler_dispatch); the stubs say Visitable
        self.column: ColumnElement[Any] = column  # type: ignore[assignment]
        self.pattern = bindparam(None, pattern, type_=String())


@compiles(CaseInsensitiveRegex, "sqlite")
def _iregex_sqlite(element: CaseInsensitiveRegex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} REGEXP ('(?i)' || {compiler.process(element.pattern, **kw)})"


@compiles(CaseInsensitiveRegex, "postgresql")
def _iregex_pg(element: CaseInsensitiveRegex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} ~* {compiler.process(element.pattern, **kw)}"


__all__ = ["CaseInsensitiveRegex", "JsonTypeIn"]
