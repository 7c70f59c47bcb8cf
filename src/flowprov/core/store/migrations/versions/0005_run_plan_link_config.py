"""run plan and transform link config: lamindb 2.x's `Run.plan` and `TransformTransform.config`

Revision ID: 0005_run_plan_link_config
Revises: 0004_param_index
Create Date: 2026-12-02

`flowprov_run.plan_id`: the artifact holding the (agent) plan a run followed (`ln.track(plan=...)`),
like `report_id` a foreign key to `flowprov_artifact` that becomes NULL when the artifact is
deleted. `flowprov_transform_predecessor` becomes lamindb's link record TransformTransform: an `id`
primary key (the pair stays unique) and `config`, a JSON value on a predecessor -> successor link
(`predecessor.successors.add(t, through_defaults={"config": {...}})`). Stored links are kept, with
no config; every run starts without a plan.

SQLite cannot add a foreign key with ALTER TABLE through Alembic without recreating the table (which
would drop 0004's triggers on flowprov_run): the column is added with an inline REFERENCES clause.
The link table has no triggers: on SQLite it is rebuilt with the new primary key.
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_run_plan_link_config"
down_revision = "0004_param_index"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
FK = "fk_flowprov_run_plan_id_flowprov_artifact"
INDEX = "ix_flowprov_run_plan_id"
LINK = "flowprov_transform_predecessor"
LINK_INDEX = "ix_flowprov_transform_predecessor_predecessor_id"
LINK_UNIQUE = "uq_flowprov_transform_predecessor_transform_id_predecessor_id"


def _link_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transform_id", sa.Integer(), nullable=False),
        sa.Column("predecessor_id", sa.Integer(), nullable=False),
        sa.Column("config", JSON_TYPE, nullable=True),
        sa.ForeignKeyConstraint(
            ["transform_id"],
            ["flowprov_transform.id"],
            name=f"fk_{LINK}_transform_id_flowprov_transform",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["predecessor_id"],
            ["flowprov_transform.id"],
            name=f"fk_{LINK}_predecessor_id_flowprov_transform",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{LINK}"),
        sa.UniqueConstraint("transform_id", "predecessor_id", name=LINK_UNIQUE),
    )


def _upgrade_link() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(LINK_INDEX, table_name=LINK)
        op.rename_table(LINK, f"_{LINK}_0004")
        _link_table(LINK)
        op.execute(
            f"INSERT INTO {LINK} (transform_id, predecessor_id) SELECT transform_id, predecessor_id FROM _{LINK}_0004"
        )
        op.drop_table(f"_{LINK}_0004")
        op.create_index(LINK_INDEX, LINK, ["predecessor_id"], unique=False)
    else:  # the index on predecessor_id stays
        op.execute(f"ALTER TABLE {LINK} ADD COLUMN id SERIAL NOT NULL")
        op.drop_constraint(f"pk_{LINK}", LINK, type_="primary")
        op.create_primary_key(f"pk_{LINK}", LINK, ["id"])
        op.create_unique_constraint(LINK_UNIQUE, LINK, ["transform_id", "predecessor_id"])
        op.add_column(LINK, sa.Column("config", JSON_TYPE, nullable=True))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE flowprov_run ADD COLUMN plan_id INTEGER REFERENCES flowprov_artifact (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("flowprov_run", sa.Column("plan_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FK, "flowprov_run", "flowprov_artifact", ["plan_id"], ["id"], ondelete="SET NULL")
    op.create_index(INDEX, "flowprov_run", ["plan_id"], unique=False)
    _upgrade_link()


def downgrade() -> None:
    """Back to 0004: runs lose their plan, links their config and id (the pairs are kept)."""
    op.drop_index(INDEX, table_name="flowprov_run")
    with op.batch_alter_table(LINK, recreate="always") as batch:
        batch.drop_constraint(LINK_UNIQUE, type_="unique")
        batch.drop_column("config")
        batch.drop_column("id")
        batch.create_primary_key(f"pk_{LINK}", ["transform_id", "predecessor_id"])
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("flowprov_run", recreate="always") as batch:
            batch.drop_column("plan_id")
        # recreating flowprov_run dropped the param index's triggers (0004): put them back
        spec = importlib.util.spec_from_file_location("m0004", Path(__file__).with_name("0004_param_index.py"))
        assert spec is not None and spec.loader is not None
        m0004 = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m0004)
        for statement in m0004.SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.drop_constraint(FK, "flowprov_run", type_="foreignkey")
        op.drop_column("flowprov_run", "plan_id")
