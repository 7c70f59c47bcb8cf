"""Link tables of the many-to-many relations."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, Numeric, Table, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION

from flowprov.core.fieldtypes import JSONType, UTCDateTime
from flowprov.core.registry.base import Record

# What a run read, and where: one row per (run, artifact, location). `path` is the absolute URI the
# run read the bytes from ("" when unknown: rows written before schema 0002 took the artifact's
# last known location instead).
run_input_artifact = Table(
    "flowprov_run_input_artifact",
    Record.metadata,
    Column("run_id", Integer, ForeignKey("flowprov_run.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "artifact_id", Integer, ForeignKey("flowprov_artifact.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    Column("path", Text, primary_key=True, server_default=""),
)

# What a run wrote, and where and when: one row per (run, artifact, location), also when the bytes
# equal an artifact an earlier run created (Artifact.run stays that first creator). Lineage by
# location starts from the row that last wrote a path.
run_output_artifact = Table(
    "flowprov_run_output_artifact",
    Record.metadata,
    Column("run_id", Integer, ForeignKey("flowprov_run.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "artifact_id", Integer, ForeignKey("flowprov_artifact.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    Column("path", Text, primary_key=True),
    Column("written_at", UTCDateTime, nullable=True),
    Index("ix_flowprov_run_output_artifact_path", "path"),
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

# predecessor -> successor (`transform_id`); since schema 0005 a row has an id and a config, and is
# the record class TransformTransform (lamindb's link record, registry/transform.py)
transform_predecessor = Table(
    "flowprov_transform_predecessor",
    Record.metadata,
    Column("id", Integer, primary_key=True),
    Column("transform_id", Integer, ForeignKey("flowprov_transform.id", ondelete="CASCADE"), nullable=False),
    Column(
        "predecessor_id", Integer, ForeignKey("flowprov_transform.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("config", JSONType, nullable=True),
    UniqueConstraint("transform_id", "predecessor_id"),
)

# Every scalar leaf of a run's params (schema 0004): filled and refilled by database triggers on
# flowprov_run (see migrations/versions/0004_param_index.py), read by `Run.filter(params__...)`.
# SQLite: `path` is json_tree's fullkey (`$.lr`); PostgreSQL: a text array (`{lr}`).
run_param = Table(
    "flowprov_run_param",
    Record.metadata,
    Column("run_id", Integer, ForeignKey("flowprov_run.id", ondelete="CASCADE"), primary_key=True),
    Column("path", Text().with_variant(ARRAY(Text()), "postgresql"), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("num", Numeric().with_variant(DOUBLE_PRECISION(), "postgresql"), nullable=True),
    Column("txt", Text, nullable=True),
    Index("ix_flowprov_run_param_value", "path", "kind", "num", "txt"),
    sqlite_with_rowid=False,
)
