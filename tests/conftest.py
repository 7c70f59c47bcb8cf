"""Shared fixtures: an isolated home for every test and one store fixture over SQLite and PostgreSQL.

PostgreSQL: each test gets its own schema in the `test` database (FLOWPROV_TEST_PG overrides the
server URL), so parallel workers and parallel CI runs never collide. Locally the PostgreSQL
variants skip with a reason when no server answers; in CI (env CI set) they fail instead.
"""

from __future__ import annotations

import importlib
import os
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, text

PG_SERVER = os.environ.get("FLOWPROV_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[1]
_pg_state: dict[str, object] = {}


def pg_problem() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "problem" not in _pg_state:
        try:
            engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["problem"] = None
        except Exception as exc:  # any failure to reach the server
            _pg_state["problem"] = f"PostgreSQL at {PG_SERVER} is not reachable: {str(exc).splitlines()[0]}"
    return _pg_state["problem"]  # type: ignore[return-value]


def require_pg() -> None:
    problem = pg_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI must run the PostgreSQL tests)")
        pytest.skip(problem)


def require_module(name: str) -> ModuleType:
    """Import a workflow manager the tests need: skip without it locally, fail in CI (env CI set)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed ({exc}); CI must run these tests", pytrace=False)
        pytest.skip(f"{name} is not installed: {exc}", allow_module_level=True)


def new_pg_schema_url() -> tuple[str, str]:
    schema = "t_" + uuid.uuid4().hex[:16]
    engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema, f"{PG_SERVER}?options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Keep every test away from the user's real config, default store and hash cache."""
    home = tmp_path / "home"
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("FLOWPROV_DB", raising=False)
    monkeypatch.delenv("FLOWPROV_INITIATED_BY_RUN", raising=False)
    monkeypatch.delenv("FLOWPROV_HASH_CACHE", raising=False)
    monkeypatch.delenv("FLOWPROV_LARGE_FILE_HASH", raising=False)
    yield home
    from flowprov.core.store.connection import disconnect_all
    from flowprov.core.tracking.context import INITIATED_BY_ENV, context
    from flowprov.core.tracking.targets import current_target

    # an in-process track() leaves global state behind: clear it for the next test
    context.run = context.transform = None
    context._finished = True
    context._offline = None
    current_target.set(None)
    os.environ.pop(INITIATED_BY_ENV, None)
    disconnect_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A URL for a fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    require_pg()
    schema, url = new_pg_schema_url()
    try:
        yield url
    finally:
        from flowprov.core.store.connection import disconnect_all

        disconnect_all()
        drop_pg_schema(schema)


@pytest.fixture
def store(store_url):
    """A fresh store of each kind, made the current one."""
    import flowprov

    return flowprov.connect(store_url)


# -- Prefect: one temporary server for the whole session ---------------------------------------
def set_prefect_test_env() -> None:
    """Prefect settings for tests; call before importing prefect (settings are read at import)."""
    import tempfile

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-home-"))
    # the temporary server (SQLite) answers 503 when it is busy on a loaded machine: retry longer
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "12")
    os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def prefect_api():
    """A temporary Prefect server shared by every test module (starting one takes 10-40 s); its
    API URL, which child processes get as PREFECT_API_URL."""
    set_prefect_test_env()
    require_module("prefect")
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=240),
    ):
        yield PREFECT_API_URL.value()


# -- the UI and interop tests' recorded stores: built at most once per worker ------------------
@pytest.fixture(scope="session")
def recorded_stores(tmp_path_factory, prefect_api):
    """Stores of each kind filled by every real adapter (tests/recorded_stores.py), built on first use."""
    from tests.recorded_stores import RecordedStores

    stores = RecordedStores(tmp_path_factory.mktemp("recorded"), prefect_api)
    yield stores
    stores.close()
