"""lamindb's exception names (`ln.errors.X`) as aliases of flowprov's exceptions.

Code written against lamindb catches `ln.errors.ObjectDoesNotExist`, `ln.errors.InvalidArgument`,
... ; each name here is the flowprov exception raised in the same situation.
"""

from __future__ import annotations

from flowprov.core.exceptions import (
    DoesNotExist,
    FieldError,
    FlowprovError,
    InvalidArgument,
    MultipleResultsFound,
    StoreError,
    StoreNeedsMigration,
    TrackNotCalled,
    ValidationError,
)

ObjectDoesNotExist = DoesNotExist
FieldValidationError = ValidationError
IntegrityError = ValidationError  # a refused write (see registry.base.raise_integrity_error)
UnknownStorageLocation = StoreError

__all__ = [
    "DoesNotExist",
    "FieldError",
    "FieldValidationError",
    "FlowprovError",
    "IntegrityError",
    "InvalidArgument",
    "MultipleResultsFound",
    "ObjectDoesNotExist",
    "StoreError",
    "StoreNeedsMigration",
    "TrackNotCalled",
    "UnknownStorageLocation",
    "ValidationError",
]
