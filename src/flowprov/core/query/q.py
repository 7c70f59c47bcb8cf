"""`Q` objects: keyword lookups combined with `&`, `|` and `~`, as in Django."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, not_, or_
from sqlalchemy.sql.expression import ColumnElement

if TYPE_CHECKING:
    from flowprov.core.query.lookups import Entity


class Q:
    """A condition tree. `Q(a=1, b=2)` means a=1 AND b=2; combine with `&`, `|`, `~`."""

    AND = "AND"
    OR = "OR"

    def __init__(self, *children: Q, _connector: str = "AND", _negated: bool = False, **lookups: Any):
        self.children: list[Q | tuple[str, Any]] = [*children, *sorted(lookups.items())]
        self.connector = _connector
        self.negated = _negated

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            raise TypeError(f"cannot combine Q with {type(other).__name__}")
        return Q(self, other, _connector=connector)

    def __and__(self, other: Q) -> Q:
        return self._combine(other, self.AND)

    def __or__(self, other: Q) -> Q:
        return self._combine(other, self.OR)

    def __invert__(self) -> Q:
        return Q(self, _negated=True)

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) if isinstance(c, Q) else f"{c[0]}={c[1]!r}" for c in self.children)
        return f"{'~' if self.negated else ''}Q({inner})"

    def resolve(self, entity: Entity) -> ColumnElement[bool]:
        from flowprov.core.query.lookups import build_condition

        parts = [c.resolve(entity) if isinstance(c, Q) else build_condition(entity, c[0], c[1]) for c in self.children]
        if not parts:
            expr = and_(True)
        elif len(parts) == 1:
            expr = parts[0]
        else:
            expr = and_(*parts) if self.connector == self.AND else or_(*parts)
        return not_(expr) if self.negated else expr
