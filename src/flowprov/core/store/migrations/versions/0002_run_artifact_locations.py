"""where runs read and wrote: output links run <-> artifact with path and time, path on input links

Revision ID: 0002_run_artifact_locations
Revises: 0001_initial
Create Date: 2026-12-01

Data kept from 0.1.0 stores: every artifact with a creating run gets an output link of that run at
the artifact's last known location (written at the run's end, else the artifact's creation); the
artifacts a run listed in aux["outputs_already_registered"] get output links of that run too; input
links take the artifact's last known location. The aux key itself is left as it was.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_run_artifact_locations"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

INPUT = "flowprov_run_input_artifact"
OUTPUT = "flowprov_run_output_artifact"


def upgrade() -> None:
    op.create_table(
        OUTPUT,
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["flowprov_artifact.id"],
            name=op.f("fk_flowprov_run_output_artifact_artifact_id_flowprov_artifact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["flowprov_run.id"],
            name=op.f("fk_flowprov_run_output_artifact_run_id_flowprov_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "artifact_id", "path", name=op.f("pk_flowprov_run_output_artifact")),
    )
    op.create_index(op.f("ix_flowprov_run_output_artifact_artifact_id"), OUTPUT, ["artifact_id"], unique=False)
    op.create_index("ix_flowprov_run_output_artifact_path", OUTPUT, ["path"], unique=False)
    _input_paths()
    _backfill_outputs()


def _input_paths() -> None:
    """Input links get a path column that is part of their key (a run may read equal bytes at two places)."""
    op.add_column(INPUT, sa.Column("path", sa.Text(), nullable=False, server_default=""))
    op.execute(
        f"UPDATE {INPUT} SET path = COALESCE((SELECT a.path FROM flowprov_artifact a "
        f"WHERE a.id = {INPUT}.artifact_id), '')"
    )
    with op.batch_alter_table(INPUT, recreate="auto") as batch:
        batch.drop_constraint(op.f("pk_flowprov_run_input_artifact"), type_="primary")
        batch.create_primary_key(op.f("pk_flowprov_run_input_artifact"), ["run_id", "artifact_id", "path"])


def _backfill_outputs() -> None:
    bind = op.get_bind()
    op.execute(
        f"INSERT INTO {OUTPUT} (run_id, artifact_id, path, written_at) "
        "SELECT a.run_id, a.id, COALESCE(a.path, ''), COALESCE(r.finished_at, a.created_at) "
        "FROM flowprov_artifact a JOIN flowprov_run r ON r.id = a.run_id"
    )
    # later runs that wrote the same bytes were noted in aux by 0.1.0
    runs = sa.table("flowprov_run", sa.column("id"), sa.column("aux", sa.JSON), sa.column("finished_at"))
    artifacts = sa.table("flowprov_artifact", sa.column("id"), sa.column("uid"), sa.column("path"))
    link = sa.table(OUTPUT, sa.column("run_id"), sa.column("artifact_id"), sa.column("path"), sa.column("written_at"))
    rows = []
    for run_id, aux, finished_at in bind.execute(sa.select(runs.c.id, runs.c.aux, runs.c.finished_at)):
        uids = (aux or {}).get("outputs_already_registered") if isinstance(aux, dict) else None
        if not uids:
            continue
        for artifact_id, path in bind.execute(
            sa.select(artifacts.c.id, artifacts.c.path).where(artifacts.c.uid.in_(list(uids)))
        ):
            rows.append({"run_id": run_id, "artifact_id": artifact_id, "path": path or "", "written_at": finished_at})
    if rows:
        bind.execute(sa.insert(link), rows)


def downgrade() -> None:
    op.drop_table(OUTPUT)
    with op.batch_alter_table(INPUT, recreate="auto") as batch:
        batch.drop_constraint(op.f("pk_flowprov_run_input_artifact"), type_="primary")
        batch.create_primary_key(op.f("pk_flowprov_run_input_artifact"), ["run_id", "artifact_id"])
        batch.drop_column("path")
