"""Runs recorded once per store kind by each real adapter, for the interop tests of this package.

Session-scoped, shared by the export and import tests on one xdist worker (recording takes ~25 s): one SQLite store and one
PostgreSQL schema, each holding a tracked script, a Snakemake workflow, a Prefect flow and two
Nextflow launches (a real nf-core trace with its history and report, and a real task work dir).
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import pytest

from tests.conftest import REPO, drop_pg_schema, new_pg_schema_url, require_pg

ADAPTERS = ("script", "snakemake", "prefect", "nextflow", "nextflow_workdir")
NEXTFLOW = REPO / "tests" / "data" / "nextflow"


def _record_nextflow(tmp: Path) -> dict[str, str]:
    from flowprov.integrations.nextflow import ingest
    from tests.integrations.test_nextflow import HEADER

    launch = tmp / "openproblems"
    (launch / ".nextflow").mkdir(parents=True)
    (launch / "results" / "pipeline_info").mkdir(parents=True)
    shutil.copy(NEXTFLOW / "openproblems_nextflow_history.tsv", launch / ".nextflow" / "history")
    info = launch / "results" / "pipeline_info"
    shutil.copy(NEXTFLOW / "openproblems_loving_blackwell_trace.txt", info / "execution_trace.txt")
    shutil.copy(NEXTFLOW / "openproblems_report.html", info / "execution_report.html")
    work = tmp / "wd" / "work" / "00" / "02079f69661eaa3855105fdf24b5f7"
    shutil.copytree(NEXTFLOW / "wfcommons_workdir_00-02079f", work)
    trace = tmp / "wd" / "trace.txt"
    row = "1\t00/02079f\t7\tDEMUX_SUMMARY (1)\tCOMPLETED\t0\t2021-01-01 10:00:00.000\t12s\t12s\t-\t-\t-\t-\t-\n"
    trace.write_text(HEADER + "\n" + row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [launch_result] = ingest(launch)
        [workdir_result] = ingest(
            trace, session_id="11111111-1111-1111-1111-111111111111", timezone="UTC", work_dir=tmp / "wd" / "work"
        )
    return {"nextflow": launch_result.run.uid, "nextflow_workdir": workdir_result.run.uid}


def _prefect_run(demo, url: str) -> str:
    """The demo's Prefect flow; once more if its temporary server did not start in time (a busy machine)."""
    import subprocess

    # 300 s as in tests/ui: under load (2 cores, several suites) the ephemeral server missed 60 s twice
    try:
        return demo.run_prefect_flow(url, startup_timeout=300).uid
    except subprocess.CalledProcessError:
        return demo.run_prefect_flow(url, startup_timeout=300).uid


def _record_all(url: str, tmp: Path) -> dict[str, str]:
    import flowprov as ln

    sys.path.insert(0, str(REPO / "examples"))
    try:
        import demo
    finally:
        sys.path.pop(0)
    ln.connect(url)
    runs = {
        "script": demo.run_tracked_script(url).uid,
        "snakemake": demo.run_snakemake_workflow(url).uid,
        "prefect": _prefect_run(demo, url),
    }
    runs.update(_record_nextflow(tmp))
    return runs


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def recorded(request, tmp_path_factory):
    """(store URL, {adapter: top run uid}) with one real run of every adapter."""
    tmp = tmp_path_factory.mktemp("recorded")
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR"):
        (tmp / var).mkdir()
        os.environ[var] = str(tmp / var)
    schema = None
    try:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'store.db'}"
        else:
            require_pg()
            schema, url = new_pg_schema_url()
        import tempfile

        tempfile.tempdir = None  # the demo's temporary work dirs go under this test's TMPDIR
        yield url, _record_all(url, tmp)
    finally:
        from flowprov.core.store.connection import disconnect_all

        disconnect_all()
        if schema:
            drop_pg_schema(schema)
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        import tempfile

        tempfile.tempdir = None
