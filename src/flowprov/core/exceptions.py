"""Exceptions raised by flowprov. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class FlowprovError(Exception):
    """Base class of every flowprov error."""


class DoesNotExist(FlowprovError, LookupError):
    """No record matched a `get()` query."""


class MultipleResultsFound(FlowprovError, LookupError):
    """More than one record matched a query that expects exactly one."""


class ValidationError(FlowprovError, ValueError):
    """One or more field values are invalid.

    `error_dict` maps each field name to the list of its error messages (Django's shape), so that
    `clean_fields()` can report every invalid field at once.
    """

    def __init__(self, message: str | dict[str, list[str]]):
        if isinstance(message, dict):
            self.error_dict = {k: list(v) for k, v in message.items()}
            text = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.error_dict.items())
        else:
            self.error_dict = {}
            text = message
        super().__init__(text)

    @property
    def message_dict(self) -> dict[str, list[str]]:
        return self.error_dict


class FieldError(FlowprovError, ValueError):
    """A query named a field or lookup that does not exist on the record class."""


class InvalidArgument(FieldError, TypeError):
    """A call got an argument it cannot use: an unknown filter field, a wrong positional argument.

    lamindb raises `InvalidArgument` for these; it subclasses `FieldError` (flowprov's name for an
    unknown query field) and `TypeError`/`ValueError`, so code catching any of them keeps working.
    """


class StoreNeedsMigration(FlowprovError, RuntimeError):
    """The store's schema is older (or newer) than this version of flowprov expects."""


class StoreError(FlowprovError, RuntimeError):
    """The store could not be opened or written."""


class TrackNotCalled(FlowprovError, RuntimeError):
    """`finish()` (or something needing the tracked run) was called before `track()` (lamindb's name)."""
