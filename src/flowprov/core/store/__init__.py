"""The store: where records live (SQLite embedded by default, PostgreSQL for teams).

The names below load on first use: the registry imports `store.model` and `store.integrity` at
import time, which must not open the connection machinery (settings, engines) for nothing.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store, connect, current_store, get_store

__all__ = ["Store", "connect", "current_store", "get_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flowprov.core.store import connection

        return getattr(connection, name)
    raise AttributeError(f"module 'flowprov.core.store' has no attribute {name!r}")
