"""initial schema: spaces, users, storages, transforms, runs, artifacts, collections

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # runs and artifacts refer to each other; SQLite takes the foreign keys inline (it cannot add
    # them later), PostgreSQL adds them once both tables exist.
    run_artifact_fks = (
        (
            sa.ForeignKeyConstraint(
                ["environment_id"],
                ["flowprov_artifact.id"],
                name=op.f("fk_flowprov_run_environment_id_flowprov_artifact"),
                ondelete="SET NULL",
            ),
            sa.ForeignKeyConstraint(
                ["report_id"],
                ["flowprov_artifact.id"],
                name=op.f("fk_flowprov_run_report_id_flowprov_artifact"),
                ondelete="SET NULL",
            ),
        )
        if sqlite
        else ()
    )
    op.create_table(
        "flowprov_space",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_space")),
        sa.UniqueConstraint("name", name=op.f("uq_flowprov_space_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_space_uid")),
    )
    op.create_table(
        "flowprov_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=8), nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_user")),
        sa.UniqueConstraint("handle", name=op.f("uq_flowprov_user_handle")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_user_uid")),
    )
    op.create_table(
        "flowprov_storage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=12), nullable=False),
        sa.Column("root", sa.String(length=767), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["flowprov_user.id"], name=op.f("fk_flowprov_storage_created_by_id_flowprov_user")
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["flowprov_space.id"], name=op.f("fk_flowprov_storage_space_id_flowprov_space")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_storage")),
        sa.UniqueConstraint("root", name=op.f("uq_flowprov_storage_root")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_storage_uid")),
    )
    op.create_table(
        "flowprov_transform",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=True),
        sa.Column("name", sa.String(length=150), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("hash", sa.String(length=22), nullable=True),
        sa.Column("source_code", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("reference_type", sa.String(length=25), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["flowprov_user.id"], name=op.f("fk_flowprov_transform_created_by_id_flowprov_user")
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["flowprov_space.id"], name=op.f("fk_flowprov_transform_space_id_flowprov_space")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_transform")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_transform_uid")),
    )
    op.create_index(op.f("ix_flowprov_transform_hash"), "flowprov_transform", ["hash"], unique=False)
    op.create_index("ix_flowprov_transform_key_name", "flowprov_transform", ["key", "name"], unique=False)
    op.create_table(
        "flowprov_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("reference_type", sa.String(length=25), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("aux", JSON_TYPE, nullable=True),
        sa.Column("params", JSON_TYPE, nullable=True),
        sa.Column("_status_code", sa.Integer(), nullable=False),
        sa.Column("transform_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("initiated_by_run_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("_status_code BETWEEN -3 AND 2", name=op.f("ck_flowprov_run_status_code_known")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["flowprov_user.id"], name=op.f("fk_flowprov_run_created_by_id_flowprov_user")
        ),
        sa.ForeignKeyConstraint(
            ["initiated_by_run_id"],
            ["flowprov_run.id"],
            name=op.f("fk_flowprov_run_initiated_by_run_id_flowprov_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["flowprov_space.id"], name=op.f("fk_flowprov_run_space_id_flowprov_space")
        ),
        sa.ForeignKeyConstraint(
            ["transform_id"],
            ["flowprov_transform.id"],
            name=op.f("fk_flowprov_run_transform_id_flowprov_transform"),
            ondelete="RESTRICT",
        ),
        *run_artifact_fks,
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_run")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_run_uid")),
    )
    op.create_index(op.f("ix_flowprov_run_environment_id"), "flowprov_run", ["environment_id"], unique=False)
    op.create_index(op.f("ix_flowprov_run_initiated_by_run_id"), "flowprov_run", ["initiated_by_run_id"], unique=False)
    op.create_index(op.f("ix_flowprov_run_reference"), "flowprov_run", ["reference"], unique=False)
    op.create_index(
        "ix_flowprov_run_reference_type_reference", "flowprov_run", ["reference_type", "reference"], unique=False
    )
    op.create_index(op.f("ix_flowprov_run_report_id"), "flowprov_run", ["report_id"], unique=False)
    op.create_index(op.f("ix_flowprov_run_started_at"), "flowprov_run", ["started_at"], unique=False)
    op.create_index(op.f("ix_flowprov_run_transform_id"), "flowprov_run", ["transform_id"], unique=False)
    op.create_table(
        "flowprov_transform_predecessor",
        sa.Column("transform_id", sa.Integer(), nullable=False),
        sa.Column("predecessor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["predecessor_id"],
            ["flowprov_transform.id"],
            name=op.f("fk_flowprov_transform_predecessor_predecessor_id_flowprov_transform"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transform_id"],
            ["flowprov_transform.id"],
            name=op.f("fk_flowprov_transform_predecessor_transform_id_flowprov_transform"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transform_id", "predecessor_id", name=op.f("pk_flowprov_transform_predecessor")),
    )
    op.create_index(
        op.f("ix_flowprov_transform_predecessor_predecessor_id"),
        "flowprov_transform_predecessor",
        ["predecessor_id"],
        unique=False,
    )
    op.create_table(
        "flowprov_artifact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("suffix", sa.String(length=30), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=22), nullable=True),
        sa.Column("_hash_type", sa.String(length=30), nullable=True),
        sa.Column("n_files", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("storage_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["flowprov_user.id"], name=op.f("fk_flowprov_artifact_created_by_id_flowprov_user")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flowprov_run.id"], name=op.f("fk_flowprov_artifact_run_id_flowprov_run"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["flowprov_space.id"], name=op.f("fk_flowprov_artifact_space_id_flowprov_space")
        ),
        sa.ForeignKeyConstraint(
            ["storage_id"], ["flowprov_storage.id"], name=op.f("fk_flowprov_artifact_storage_id_flowprov_storage")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_artifact")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_artifact_uid")),
    )
    op.create_index(op.f("ix_flowprov_artifact_hash"), "flowprov_artifact", ["hash"], unique=False)
    op.create_index(op.f("ix_flowprov_artifact_key"), "flowprov_artifact", ["key"], unique=False)
    op.create_index(op.f("ix_flowprov_artifact_run_id"), "flowprov_artifact", ["run_id"], unique=False)
    op.create_table(
        "flowprov_collection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hash", sa.String(length=22), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["flowprov_user.id"], name=op.f("fk_flowprov_collection_created_by_id_flowprov_user")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["flowprov_run.id"],
            name=op.f("fk_flowprov_collection_run_id_flowprov_run"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["flowprov_space.id"], name=op.f("fk_flowprov_collection_space_id_flowprov_space")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flowprov_collection")),
        sa.UniqueConstraint("uid", name=op.f("uq_flowprov_collection_uid")),
    )
    op.create_index(op.f("ix_flowprov_collection_hash"), "flowprov_collection", ["hash"], unique=False)
    op.create_index(op.f("ix_flowprov_collection_key"), "flowprov_collection", ["key"], unique=False)
    op.create_index(op.f("ix_flowprov_collection_run_id"), "flowprov_collection", ["run_id"], unique=False)
    op.create_table(
        "flowprov_collection_artifact",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["flowprov_artifact.id"],
            name=op.f("fk_flowprov_collection_artifact_artifact_id_flowprov_artifact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["flowprov_collection.id"],
            name=op.f("fk_flowprov_collection_artifact_collection_id_flowprov_collection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_id", "artifact_id", name=op.f("pk_flowprov_collection_artifact")),
    )
    op.create_index(
        op.f("ix_flowprov_collection_artifact_artifact_id"),
        "flowprov_collection_artifact",
        ["artifact_id"],
        unique=False,
    )
    op.create_table(
        "flowprov_run_input_artifact",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["flowprov_artifact.id"],
            name=op.f("fk_flowprov_run_input_artifact_artifact_id_flowprov_artifact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["flowprov_run.id"],
            name=op.f("fk_flowprov_run_input_artifact_run_id_flowprov_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "artifact_id", name=op.f("pk_flowprov_run_input_artifact")),
    )
    op.create_index(
        op.f("ix_flowprov_run_input_artifact_artifact_id"), "flowprov_run_input_artifact", ["artifact_id"], unique=False
    )
    op.create_table(
        "flowprov_run_input_collection",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["flowprov_collection.id"],
            name=op.f("fk_flowprov_run_input_collection_collection_id_flowprov_collection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["flowprov_run.id"],
            name=op.f("fk_flowprov_run_input_collection_run_id_flowprov_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "collection_id", name=op.f("pk_flowprov_run_input_collection")),
    )
    op.create_index(
        op.f("ix_flowprov_run_input_collection_collection_id"),
        "flowprov_run_input_collection",
        ["collection_id"],
        unique=False,
    )
    if not sqlite:
        op.create_foreign_key(
            op.f("fk_flowprov_run_environment_id_flowprov_artifact"),
            "flowprov_run",
            "flowprov_artifact",
            ["environment_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.create_foreign_key(
            op.f("fk_flowprov_run_report_id_flowprov_artifact"),
            "flowprov_run",
            "flowprov_artifact",
            ["report_id"],
            ["id"],
            ondelete="SET NULL",
        )
    space = sa.table(
        "flowprov_space",
        sa.column("id", sa.Integer),
        sa.column("uid", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    # The default space gets id 1 as the first row; records point there unless moved.
    op.bulk_insert(
        space,
        [
            {
                "uid": "A" * 12,
                "name": "all",
                "description": "every record is in this space unless moved",
                "created_at": now.replace(tzinfo=None) if sqlite else now,
            }
        ],
    )


def downgrade() -> None:
    for table in (
        "flowprov_run_input_collection",
        "flowprov_run_input_artifact",
        "flowprov_collection_artifact",
        "flowprov_collection",
        "flowprov_transform_predecessor",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_flowprov_run_environment_id_flowprov_artifact"), "flowprov_run", type_="foreignkey")
        op.drop_constraint(op.f("fk_flowprov_run_report_id_flowprov_artifact"), "flowprov_run", type_="foreignkey")
    for table in (
        "flowprov_artifact",
        "flowprov_run",
        "flowprov_transform",
        "flowprov_storage",
        "flowprov_user",
        "flowprov_space",
    ):
        op.drop_table(table)
