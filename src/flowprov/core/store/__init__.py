"""The store: where records live (SQLite embedded by default, PostgreSQL for teams)."""

from flowprov.core.store.connection import Store, connect, current_store, get_store

__all__ = ["Store", "connect", "current_store", "get_store"]
