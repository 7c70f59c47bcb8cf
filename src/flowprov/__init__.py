"""flowprov: provenance of workflow runs, with lamindb's Run/Transform/Artifact/Collection API.

    import flowprov as ln
    transform = ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()
    run = ln.Run(transform, reference="loving_blackwell", reference_type="nextflow_session_id").save()

This module only re-exports; pandas, Alembic and the workflow managers load where they are used.
"""

from flowprov.core.exceptions import (
    DoesNotExist,
    FieldError,
    MultipleResultsFound,
    StoreNeedsMigration,
    ValidationError,
)
from flowprov.core.query import Q, QuerySet
from flowprov.core.registry import Artifact, Collection, Run, Space, Storage, Transform, User, save
from flowprov.core.store import connect, current_store
from flowprov.core.tracking import context, finish, track, track_input, track_output

__version__ = "0.1.0"


def __getattr__(name: str):
    # `flowprov.diff(a, b)` loads the diff package only when used (light imports); the package
    # module is itself callable, so the name works before and after `import flowprov.diff`.
    if name in ("diff", "errors", "models"):
        import importlib

        return importlib.import_module(f"flowprov.{name}")
    if name == "settings":
        from flowprov.lamin_settings import settings

        return settings
    raise AttributeError(f"module 'flowprov' has no attribute {name!r}")


__all__ = [
    "Artifact",
    "Collection",
    "DoesNotExist",
    "FieldError",
    "MultipleResultsFound",
    "Q",
    "QuerySet",
    "Run",
    "Space",
    "Storage",
    "StoreNeedsMigration",
    "Transform",
    "User",
    "ValidationError",
    "connect",
    "context",
    "diff",
    "errors",
    "models",
    "settings",
    "current_store",
    "finish",
    "save",
    "track",
    "track_input",
    "track_output",
]
