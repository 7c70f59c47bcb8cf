"""Small helpers every layer may use. This module is a leaf: it imports nothing of flowprov."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# Values per `IN (...)` list: far below SQLite's 32,766 bound parameters and PostgreSQL's 65,535,
# and large enough that a walk or a bulk write costs few round trips.
IN_LIST_SIZE = 5000


def chunked(values: Iterable[T], size: int = IN_LIST_SIZE) -> Iterator[list[T]]:
    """`values` in consecutive lists of at most `size` (for `IN (...)` lists and batched writes)."""
    items = values if isinstance(values, list) else list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]
