"""`ln.models`: the record classes under lamindb's module name (`ln.models.Run`, ...)."""

from __future__ import annotations

from flowprov.core.registry import Artifact, Collection, Record, Run, Space, Storage, Transform, User, transform
from flowprov.core.registry.transform import TransformTransform

SQLRecord = Record  # lamindb 2.x's name of the record base class

__all__ = [
    "Artifact",
    "Collection",
    "Record",
    "Run",
    "SQLRecord",
    "Space",
    "Storage",
    "Transform",
    "TransformTransform",
    "User",
    "transform",  # the module: lamindb's `ln.models.transform.TransformTransform`
]
