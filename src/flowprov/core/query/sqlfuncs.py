"""SQL constructs that compile differently on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from sqlalchemy import Boolean, Float, String, Text, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

# keys that some SQLite version may leave unquoted in a json_tree fullkey
PLAIN_KEY = re.compile(r"[A-Za-z0-9_$]+")


def _sqlite_json_path(path: tuple[str | int, ...]) -> str:
    """SQLite's JSON path for `path`. SQLite matches a quoted label against the key as it is
    written in the stored JSON text, so a label is the key's own JSON spelling (`a\\b` for `a\b`)."""
    out = "$"
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else '."' + json.dumps(str(key), ensure_ascii=False)[1:-1] + '"'
    return out


def _path_param(element: JsonTypeIn | JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    """The path as a bound parameter: no key ever becomes SQL text (`%`, quotes, braces, commas).

    The path is part of the element's cache key, so a cached statement only serves the same path
    and the value bound at compile time is always the right one."""
    if compiler.dialect.name == "postgresql":
        keys = bindparam(None, [str(p) for p in element.path], type_=ARRAY(Text()), unique=True)
        return compiler.process(keys, **kw)
    path = bindparam(None, _sqlite_json_path(element.path), type_=String(), unique=True)
    return compiler.process(path, **kw)


class JsonTypeIn(ColumnElement[bool]):
    """True when the JSON value at `path` in `column` has one of the given JSON types.

    Types are named the PostgreSQL way: "number", "string", "boolean", "object", "array", "null";
    a missing key (or a NULL column) counts as "null".
    Comparisons on JSON values are guarded with this, so `params__x__gt=1` skips runs whose `x`
    is a string instead of failing a cast on PostgreSQL or comparing text to numbers on SQLite.
    """

    type = Boolean()
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
    names = [n for t in element.json_types for n in _SQLITE_TYPES[t]]
    path = _path_param(element, compiler, **kw)
    return f"COALESCE(json_type({col}, {path}), 'null') IN ({', '.join(repr(n) for n in names)})"


@compiles(JsonTypeIn, "postgresql")
def _json_type_in_pg(element: JsonTypeIn, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    path = _path_param(element, compiler, **kw)
    return f"COALESCE(jsonb_typeof({col} #> {path}), 'null') IN ({', '.join(repr(t) for t in element.json_types)})"


class JsonValue(ColumnElement[Any]):
    """The JSON value at `path` in `column` as SQL text, a number or a boolean (`kind`)."""

    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("path", InternalTraversal.dp_plain_obj),
        ("kind", InternalTraversal.dp_plain_obj),
    ]
    inherit_cache = True
    _KINDS = {"string": String, "number": Float, "boolean": Boolean}

    def __init__(self, column: ColumnElement[Any], path: tuple[str | int, ...], kind: str) -> None:
        self.column = column
        self.path = tuple(path)
        self.kind = kind
        self.type = self._KINDS[kind]()


@compiles(JsonValue, "sqlite")
def _json_value_sqlite(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    return f"JSON_EXTRACT({compiler.process(element.column, **kw)}, {_path_param(element, compiler, **kw)})"


@compiles(JsonValue, "postgresql")
def _json_value_pg(element: JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    text = f"({compiler.process(element.column, **kw)} #>> {_path_param(element, compiler, **kw)})"
    cast = {"string": None, "number": "FLOAT", "boolean": "BOOLEAN"}[element.kind]
    return text if cast is None else f"CAST({text} AS {cast})"


class LeafPathIs(ColumnElement[bool]):
    """A side-table row's `path` column names the JSON leaf at `path` (schema 0004's run_param).

    PostgreSQL stores the text array `#>` takes. SQLite stores json_tree's fullkey, in which a key
    is quoted (`$."lr_max"`) or not (`$.lr`) by rules that changed between SQLite versions, so
    every key that could go unquoted is matched in both spellings (a quoted key never equals an
    unquoted one, so no other key can match). Keys are printable ASCII without quotes or
    backslashes (json_index checks), written in the stored JSON text as they are.

    Not typed Boolean: SQLite would get `(path IN (...)) = 1`, which its planner cannot use an
    index for."""

    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("path", InternalTraversal.dp_plain_obj),
    ]
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], path: tuple[str | int, ...]) -> None:
        self.column = column
        self.path = tuple(path)

    def sqlite_spellings(self) -> list[str]:
        options = []
        for part in self.path:
            if isinstance(part, int):
                options.append([f"[{part}]"])
            else:
                options.append(['."' + part + '"'] + (["." + part] if PLAIN_KEY.fullmatch(part) else []))
        return ["$" + "".join(combo) for combo in itertools.product(*options)]


@compiles(LeafPathIs, "sqlite")
def _leaf_path_sqlite(element: LeafPathIs, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    names = [
        compiler.process(bindparam(None, s, type_=String(), unique=True), **kw) for s in element.sqlite_spellings()
    ]
    return f"{col} IN ({', '.join(names)})"


@compiles(LeafPathIs, "postgresql")
def _leaf_path_pg(element: LeafPathIs, compiler: SQLCompiler, **kw: Any) -> str:
    keys = bindparam(None, [str(p) for p in element.path], type_=ARRAY(Text()), unique=True)
    return f"{compiler.process(element.column, **kw)} = {compiler.process(keys, **kw)}"


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


__all__ = ["CaseInsensitiveRegex", "JsonTypeIn", "JsonValue", "LeafPathIs"]
