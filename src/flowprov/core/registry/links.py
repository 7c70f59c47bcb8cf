"""Link tables of the many-to-many relations."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, Table

from flowprov.core.registry.base import Record

run_input_artifact = Table(
    "flowprov_run_input_artifact",
    Record.metadata,
    Column("run_id", Integer, ForeignKey("flowprov_run.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "artifact_id", Integer, ForeignKey("flowprov_artifact.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

run_input_collection = Table(
    "flowprov_run_input_collection",
    Record.metadata,
    Column("run_id", Integer, ForeignKey("flowprov_run.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "collection_id", Integer, ForeignKey("flowprov_collection.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

collection_artifact = Table(
    "flowprov_collection_artifact",
    Record.metadata,
    Column("collection_id", Integer, ForeignKey("flowprov_collection.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "artifact_id", Integer, ForeignKey("flowprov_artifact.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    Column("position", Integer, nullable=False, default=0),
)

transform_predecessor = Table(
    "flowprov_transform_predecessor",
    Record.metadata,
    Column("transform_id", Integer, ForeignKey("flowprov_transform.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "predecessor_id", Integer, ForeignKey("flowprov_transform.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)
