"""Open a store for the UI: read-only at the database level, whichever way it is named."""

from __future__ import annotations

from flowprov.core.store import settings
from flowprov.core.store.connection import Store


def open_read_only(url_or_name: str | None) -> Store:
    """The store for a URL, path or configured name (else the usual lookup), opened read-only.

    SQLite opens with `mode=ro` and PostgreSQL with `default_transaction_read_only`, so even a bug
    in a route could not write; the schema must already exist (nothing is created).
    """
    url = settings.resolve_name_or_url(url_or_name) if url_or_name else settings.choose_store().url
    return Store(url, create=False, read_only=True)
