"""soft delete: branch_id on transforms, runs, artifacts and collections (lamindb's trash is -1)

Revision ID: 0003_soft_delete
Revises: 0002_run_artifact_locations
Create Date: 2026-12-02

Every record already stored is on the main branch (1); nothing is moved to the trash. Artifacts
get lamindb's `_overwrite_versions` (empty for those stored before: read as False).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_soft_delete"
down_revision = "0002_run_artifact_locations"
branch_labels = None
depends_on = None

TABLES = ("flowprov_transform", "flowprov_run", "flowprov_artifact", "flowprov_collection")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("branch_id", sa.Integer(), server_default=sa.text("1"), nullable=False))
        op.create_index(op.f(f"ix_{table}_branch_id"), table, ["branch_id"], unique=False)
    # lamindb's overwrite_versions: a folder's versions share one location
    op.add_column("flowprov_artifact", sa.Column("_overwrite_versions", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flowprov_artifact", recreate="auto") as batch:
        batch.drop_column("_overwrite_versions")
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_branch_id"), table_name=table)
        with op.batch_alter_table(table, recreate="auto") as batch:
            batch.drop_column("branch_id")
