"""flowprov: provenance of workflow runs, with lamindb's Run/Transform/Artifact/Collection API.

    import flowprov as ln
    transform = ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()
    run = ln.Run(transform, reference="loving_blackwell", reference_type="nextflow_session_id").save()

This module only re-exports; pandas, Alembic and the workflow managers load where they are used.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from flowprov.core.tracking.functions import flow, step

# Every name loads on first use: `from flowprov.integrations import snakemake` runs in each
# Snakemake job process, where importing the store layer (SQLAlchemy) would cost ~0.5 s for nothing.
_LAZY = {
    "flowprov.core.exceptions": ("DoesNotExist", "FieldError", "MultipleResultsFound", "StoreNeedsMigration"),
    "flowprov.core.query": ("Q", "QuerySet"),
    "flowprov.core.registry": ("Artifact", "Collection", "Run", "Space", "Storage", "Transform", "User", "save"),
    "flowprov.core.store": ("connect", "current_store"),
    "flowprov.core.tracking": ("context", "finish", "track", "track_input", "track_output"),
    "flowprov.core.tracking.functions": ("flow", "step"),  # lamindb's @ln.flow() / @ln.step()
}
_LAZY["flowprov.core.exceptions"] += ("ValidationError",)
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    import importlib

    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    # `flowprov.diff(a, b)` loads the diff package only when used (light imports); the package
    # module is itself callable, so the name works before and after `import flowprov.diff`.
    if name == "view":  # lamindb's ln.view(): the latest records of each registry
        from flowprov.overview import view

        return view
    if name in ("diff", "errors", "models"):
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
    "view",
    "current_store",
    "finish",
    "flow",
    "save",
    "step",
    "track",
    "track_input",
    "track_output",
]
