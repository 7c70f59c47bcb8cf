"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Dialect, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

# JSONB on PostgreSQL so that JSON paths can be indexed and compared; JSON text on SQLite.
# Python None is SQL NULL (not the JSON literal null), so `aux__isnull=True` means "no aux".
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if type(value) is not datetime and value.tzinfo is not None:  # subclasses such as pendulum's
        return datetime.fromtimestamp(value.timestamp(), UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC, returned aware (UTC) on every store.

    SQLite keeps naive ISO strings, so values are normalised to UTC before they are written and
    string order equals time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


class LocationURI(TypeDecorator[str]):
    """Text holding a location URI (`file:///...`); a query value given as a local path
    (`pathlib.Path`, lamindb's `artifact.path`) is compared as its file URI."""

    impl = Text
    cache_ok = True
    local_paths_as_uri = True
