"""A write the database refused (a constraint), as the ValidationError every write path raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from flowprov.core.exceptions import ValidationError


@contextmanager
def raise_integrity_error(model: type) -> Iterator[None]:
    """Turn a database constraint failure into a ValidationError that names the record class."""
    try:
        yield
    except IntegrityError as exc:
        detail = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        hint = ""
        if "FOREIGN KEY" in detail.upper() or "foreign key" in detail:
            hint = " (another record still refers to it: delete or re-point that record first)"
        raise ValidationError(f"{model.__name__}: the store refused the write: {detail}{hint}") from exc
