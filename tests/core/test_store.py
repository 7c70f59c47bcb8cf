"""The store: selection order, schema creation and migration, SQLite settings, concurrent first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import flowprov
from flowprov.core.exceptions import StoreNeedsMigration
from flowprov.core.store import connection, settings
from flowprov.core.store.schema import SCHEMA_HEAD, VERSION_TABLE

EXPECTED_TABLES = {
    "flowprov_space",
    "flowprov_user",
    "flowprov_storage",
    "flowprov_transform",
    "flowprov_run",
    "flowprov_artifact",
    "flowprov_collection",
    "flowprov_collection_artifact",
    "flowprov_run_input_artifact",
    "flowprov_run_output_artifact",
    "flowprov_run_input_collection",
    "flowprov_transform_predecessor",
    "flowprov_run_param",
    VERSION_TABLE,
}


def test_fresh_store_gets_the_schema_and_default_space(store):
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert tables == EXPECTED_TABLES
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == SCHEMA_HEAD
    assert flowprov.Space.get(1).name == "all"


def test_schema_head_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from flowprov.core.store.schema import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def schema_diff(conn) -> list:
    """Alembic's autogenerate diff between a store and the ORM models (empty: the same schema).

    SQLite: `flowprov_run.plan_id`'s foreign key was added by ALTER TABLE (schema 0005), as a column
    constraint, which SQLAlchemy reflects without its name and ON DELETE; that pair is checked in
    SQLite's own catalog instead (PRAGMA foreign_key_list) and left out of the diff."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from flowprov.core.registry import Base

    ctx = MigrationContext.configure(conn, opts={"compare_type": False, "version_table": VERSION_TABLE})
    diff = compare_metadata(ctx, Base.metadata)
    if conn.dialect.name != "sqlite":
        return diff
    fks = conn.execute(text("PRAGMA foreign_key_list(flowprov_run)")).mappings().all()
    plan = [(fk["table"], fk["to"], fk["on_delete"]) for fk in fks if fk["from"] == "plan_id"]
    assert plan == [("flowprov_artifact", "id", "SET NULL")]

    def plan_fk(entry: tuple) -> bool:
        return entry[0] in ("add_fk", "remove_fk") and [c.name for c in entry[1].columns] == ["plan_id"]

    return [entry for entry in diff if not plan_fk(entry)]


def test_migrated_schema_matches_the_models(store):
    """The migration and the ORM models describe the same schema (no autogenerate diff)."""
    with store.engine.connect() as conn:
        assert schema_diff(conn) == []


def test_store_of_a_newer_flowprov_is_refused_and_left_alone(store_url):
    from flowprov.core.store.schema import migrate

    store = flowprov.connect(store_url)
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_from_the_future'"))
    connection.disconnect_all()
    with pytest.raises(StoreNeedsMigration, match="made or upgraded by a newer flowprov"):
        flowprov.connect(store_url)
    unchecked = connection.Store(store_url, check_schema=False)
    with pytest.raises(StoreNeedsMigration, match="newer flowprov"):
        migrate(unchecked)  # `flowprov migrate` cannot downgrade it either
    unchecked.dispose()
    # and nothing was changed behind the user's back
    engine = connection.make_engine(connection.normalize_url(store_url))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == "9999_from_the_future"
    engine.dispose()


def test_reading_never_creates_a_store(tmp_path):
    from flowprov.core.exceptions import StoreError

    with pytest.raises(StoreError, match="no store at"):
        flowprov.connect(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreNeedsMigration, match="flowprov init"):
        flowprov.connect(tmp_path / "empty.db", create=False)


def test_migrate_upgrades_an_empty_store(store_url):
    from flowprov.core.exceptions import StoreError
    from flowprov.core.store.schema import migrate

    with pytest.raises((StoreNeedsMigration, StoreError)):  # SQLite: no file yet; PostgreSQL: no tables
        connection.Store(store_url, create=False)
    store = connection.Store(store_url, check_schema=False)
    assert migrate(store) == (None, SCHEMA_HEAD)
    assert migrate(store) == (SCHEMA_HEAD, SCHEMA_HEAD)
    store.dispose()


def test_sqlite_settings(tmp_path):
    store = flowprov.connect(tmp_path / "s.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000


def test_sqlite_writes_take_the_write_lock_up_front(tmp_path):
    """A write transaction holds SQLite's RESERVED lock from its first statement (BEGIN IMMEDIATE)."""
    import sqlite3

    store = flowprov.connect(tmp_path / "s.db")
    with store.transaction():
        other = sqlite3.connect(tmp_path / "s.db", timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_sqlite_reads_do_not_pin_an_old_snapshot(tmp_path):
    """A long-lived process sees rows other processes wrote after its last query."""
    import sqlite3

    flowprov.connect(tmp_path / "s.db")
    t = flowprov.Transform(name="p").save()
    assert flowprov.Run.filter().count() == 0
    other = sqlite3.connect(tmp_path / "s.db")
    other.execute(
        "INSERT INTO flowprov_run (uid, created_at, _status_code, transform_id) VALUES ('x' , '2026-01-01 00:00:00', 0, ?)",
        (t.id,),
    )
    other.commit()
    other.close()
    assert flowprov.Run.filter().count() == 1


def test_lookup_order(tmp_path, monkeypatch):
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    # 4. per-user default
    assert connection.connect().url.endswith(str(settings.user_default_db()))
    assert connection.current_store_source() == "user default"
    # 3. nearest .flowprov/ upward
    (tmp_path / "project" / ".flowprov").mkdir()
    assert connection.connect().url.endswith(str(tmp_path / "project" / ".flowprov" / "flowprov.db"))
    assert connection.current_store_source().startswith("project")
    # 2. FLOWPROV_DB beats the project directory
    monkeypatch.setenv("FLOWPROV_DB", str(tmp_path / "env.db"))
    assert connection.connect().url.endswith("env.db")
    assert connection.current_store_source() == "env FLOWPROV_DB"
    # 1. connect(url) beats everything
    assert connection.connect(tmp_path / "explicit.db").url.endswith("explicit.db")
    assert flowprov.current_store().url.endswith("explicit.db")


def test_project_config_can_name_a_url(tmp_path, monkeypatch):
    project = tmp_path / "p"
    (project / ".flowprov").mkdir(parents=True)
    (project / ".flowprov" / "config.toml").write_text(f'db = "sqlite:///{tmp_path / "elsewhere.db"}"\n')
    monkeypatch.chdir(project)
    assert connection.connect().url.endswith("elsewhere.db")


def test_named_instances(tmp_path):
    settings.write_instance("team", f"sqlite:///{tmp_path / 'team.db'}")
    assert settings.read_instances() == {"team": f"sqlite:///{tmp_path / 'team.db'}"}
    assert flowprov.connect("team").url.endswith("team.db")
    with pytest.raises(LookupError, match="flowprov instance add nope"):
        flowprov.connect("nope")


def test_postgres_urls_use_psycopg3():
    assert connection.normalize_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


def test_network_filesystem_is_detected(monkeypatch, tmp_path):
    from flowprov.core.store import engine

    monkeypatch.setattr(engine, "filesystem_type", lambda path: "nfs4")
    with pytest.warns(UserWarning, match="network file system"):
        engine.make_engine(f"sqlite:///{tmp_path / 'nfs.db'}").dispose()


def test_filesystem_type_reads_proc_mounts():
    from flowprov.core.store.engine import filesystem_type

    if not Path("/proc/mounts").exists():
        pytest.skip("no /proc/mounts on this system")
    assert filesystem_type(Path("/")) is not None


COLD_START = textwrap.dedent(
    """
    import sys, time
    start_at, url, n = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    while time.time() < start_at:
        time.sleep(0.001)
    import flowprov as ln
    ln.connect(url)
    t = ln.Transform(name="cold-start").save()
    for i in range(n):
        ln.Run(t, reference=f"{sys.argv[4]}-{i}", reference_type="test").save()
    print("ok")
    """
)


@pytest.mark.slow
def test_eight_processes_open_a_fresh_store_at_once(store_url, tmp_path):
    """8 processes start on the same fresh store at the same moment: all succeed, one schema."""
    connection.disconnect_all()
    script = tmp_path / "cold.py"
    script.write_text(COLD_START)
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(start_at), store_url, "20", f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    failures = [(p.returncode, err[-2000:]) for p, (out, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert failures == []
    store = flowprov.connect(store_url)
    assert flowprov.Run.filter(reference_type="test").count() == 160
    assert flowprov.Transform.filter(name="cold-start").count() == 1
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert conn.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1
    assert tables == EXPECTED_TABLES  # one schema, no leftover temporary tables
