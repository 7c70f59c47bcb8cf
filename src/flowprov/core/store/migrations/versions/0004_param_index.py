"""param index: every run's parameters flattened into an indexed side table, kept in step by triggers

Revision ID: 0004_param_index
Revises: 0003_soft_delete
Create Date: 2026-12-02

`flowprov_run_param` holds one row per scalar leaf of a run's params (numbers, strings, booleans;
nested dicts and lists flattened): its path, JSON kind and value. Database triggers on
`flowprov_run` fill it on INSERT and refill it when `params` changes, so every write path (one-row
saves, the bulk writer, the Recorder, the ORM, plain SQL) keeps it in step; deleting a run deletes
its rows (foreign key ON DELETE CASCADE). `Run.filter(params__x=...)` reads it through its
indexes instead of parsing every run's JSON.

Paths: SQLite stores the leaf's `fullkey` from `json_tree` (`$.lr`, `$."lr_max"`, `$.a[0]`);
PostgreSQL stores the path as a text array (`{lr}`, `{a,0}`), the form `#>` takes. Leaves whose
path or string value is longer than 200 characters are not indexed (PostgreSQL's B-tree rows are
bounded); queries that could need them read the JSON instead.

Stores already holding runs get their rows filled in by this migration.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_param_index"
down_revision = "0003_soft_delete"
branch_labels = None
depends_on = None

TABLE = "flowprov_run_param"
LIMIT = 200  # characters of a path or a string value that are indexed

SQLITE_LEAVES = f"""
SELECT {{run_id}}, fullkey,
  CASE type WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE 'number' END,
  CASE WHEN type = 'text' THEN NULL ELSE atom END,
  CASE WHEN type = 'text' THEN atom END
FROM json_tree({{params}})
WHERE type IN ('integer', 'real', 'text', 'true', 'false')
  AND length(fullkey) <= {LIMIT} AND (type <> 'text' OR length(atom) <= {LIMIT})
"""
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER flowprov_run_param_insert AFTER INSERT ON flowprov_run WHEN NEW.params IS NOT NULL
BEGIN
  DELETE FROM {TABLE} WHERE run_id = NEW.id;
  INSERT INTO {TABLE} (run_id, path, kind, num, txt) {SQLITE_LEAVES.format(run_id="NEW.id", params="NEW.params")};
END""",
    f"""CREATE TRIGGER flowprov_run_param_update AFTER UPDATE OF params ON flowprov_run
BEGIN
  DELETE FROM {TABLE} WHERE run_id = NEW.id;
  INSERT INTO {TABLE} (run_id, path, kind, num, txt) {SQLITE_LEAVES.format(run_id="NEW.id", params="NEW.params")};
END""",
]

# The leaves of a JSONB document: (path, kind, number, string). Numbers outside float8's range
# are left out (the JSON scan cannot compare them either: its CAST fails).
PG_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION flowprov_param_leaves(doc jsonb)
RETURNS TABLE(path text[], kind text, num double precision, txt text)
LANGUAGE sql IMMUTABLE AS $$
WITH RECURSIVE t(path, value) AS (
  SELECT ARRAY[]::text[], doc
  UNION ALL
  SELECT t.path || c.key, c.value FROM t CROSS JOIN LATERAL (
    SELECT e.key, e.value FROM jsonb_each(CASE WHEN jsonb_typeof(t.value) = 'object' THEN t.value END) e
    UNION ALL
    SELECT (a.ord - 1)::text, a.value
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.value) = 'array' THEN t.value END) WITH ORDINALITY a(value, ord)
  ) c
), leaves AS (
  SELECT path, value, jsonb_typeof(value) AS kind FROM t
  WHERE jsonb_typeof(value) IN ('number', 'string', 'boolean') AND length(array_to_string(path, '.')) <= {LIMIT}
)
SELECT path, kind,
  CASE kind WHEN 'number' THEN (value #>> '{{}}')::float8 WHEN 'boolean' THEN (value = 'true'::jsonb)::int END,
  CASE WHEN kind = 'string' THEN value #>> '{{}}' END
FROM leaves
WHERE (kind <> 'string' OR length(value #>> '{{}}') <= {LIMIT})
  AND (kind <> 'number' OR abs((value #>> '{{}}')::numeric) = 0
       OR abs((value #>> '{{}}')::numeric) BETWEEN 1e-307 AND 1e308)
$$""",
    f"""CREATE OR REPLACE FUNCTION flowprov_run_param_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {TABLE} WHERE run_id = NEW.id;
  IF NEW.params IS NOT NULL THEN
    INSERT INTO {TABLE} (run_id, path, kind, num, txt)
    SELECT NEW.id, p.path, p.kind, p.num, p.txt FROM flowprov_param_leaves(NEW.params) p;
  END IF;
  RETURN NULL;
END $$""",
]
PG_TRIGGERS = [
    "CREATE TRIGGER flowprov_run_param_insert AFTER INSERT ON flowprov_run FOR EACH ROW "
    "WHEN (NEW.params IS NOT NULL) EXECUTE FUNCTION flowprov_run_param_sync()",
    "CREATE TRIGGER flowprov_run_param_update AFTER UPDATE OF params ON flowprov_run FOR EACH ROW "
    "WHEN (OLD.params IS DISTINCT FROM NEW.params) EXECUTE FUNCTION flowprov_run_param_sync()",
]


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        # SQLite: NUMERIC keeps integers exact, as JSON_EXTRACT returns them
        sa.Column("num", sa.Numeric().with_variant(postgresql.DOUBLE_PRECISION(), "postgresql"), nullable=True),
        sa.Column("txt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["flowprov_run.id"], name=op.f("fk_flowprov_run_param_run_id_flowprov_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "path", name=op.f("pk_flowprov_run_param")),
        sqlite_with_rowid=False,  # the primary key is the table: one B-tree fewer to write per leaf
    )
    # one index for every lookup: strings have num NULL, which the lookup names (an equality)
    op.create_index("ix_flowprov_run_param_value", TABLE, ["path", "kind", "num", "txt"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS + PG_TRIGGERS:
            op.execute(statement)
        op.execute(
            f"INSERT INTO {TABLE} (run_id, path, kind, num, txt) SELECT r.id, p.path, p.kind, p.num, p.txt "
            "FROM flowprov_run r CROSS JOIN LATERAL flowprov_param_leaves(r.params) p WHERE r.params IS NOT NULL"
        )
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        leaves = SQLITE_LEAVES.format(run_id="r.id", params="r.params").replace(
            "FROM json_tree", "FROM flowprov_run r, json_tree"
        )
        op.execute(f"INSERT INTO {TABLE} (run_id, path, kind, num, txt) {leaves} AND r.params IS NOT NULL")


def downgrade() -> None:
    for trigger in ("flowprov_run_param_insert", "flowprov_run_param_update"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON flowprov_run")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table(TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS flowprov_run_param_sync()")
        op.execute("DROP FUNCTION IF EXISTS flowprov_param_leaves(jsonb)")
