"""One store of each kind filled once per test session by the real adapters, for the UI tests.

The demo's data (examples/demo.py's runners): the Nextflow training launch's lineage store, then
the Snakemake workflow (examples/snakemake) with that Nextflow task's output as one of its samples,
so a Snakemake job's input leads to the Nextflow task; a real Prefect flow (examples/prefect on a
temporary Prefect server) and the real openproblems Nextflow trace (tests/data/nextflow: 217 tasks,
8 failed, retries); plus two versions of a script transform with a run each, the second run's
name markup (to check escaping; the two runs are what its "diff with the previous run" shows).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

import flowprov as ln
from tests.conftest import REPO, drop_pg_schema, new_pg_schema_url, require_pg

DATA = REPO / "tests" / "data" / "nextflow"
XSS = "<script>alert(1)</script>"


@dataclass
class Recorded:
    url: str
    snakemake: str  # uids of the workflow runs
    prefect: str
    nextflow: str
    xss: str
    script_v1: str  # transform uids
    script_v2: str
    nextflow_task: str  # the training launch's task, whose output the Snakemake job `ciao` read
    script_run_v1: str  # the run before `xss` of the same script


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo():
    spec = importlib.util.spec_from_file_location("flowprov_demo", REPO / "examples" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nextflow_launch(root: Path) -> Path:
    launch = root / "openproblems"
    (launch / ".nextflow").mkdir(parents=True)
    (launch / "results" / "pipeline_info").mkdir(parents=True)
    shutil.copy(DATA / "openproblems_nextflow_history.tsv", launch / ".nextflow" / "history")
    info = launch / "results" / "pipeline_info"
    shutil.copy(DATA / "openproblems_loving_blackwell_trace.txt", info / "execution_trace.txt")
    shutil.copy(DATA / "openproblems_report.html", info / "execution_report.html")
    return launch


def record_everything(url: str, root: Path) -> Recorded:
    from flowprov.integrations.nextflow import ingest

    demo = _demo()
    ln.connect(url)
    training, made = demo.ingest_nextflow_launch()
    smk = demo.run_snakemake_workflow(url, {"ciao": made})
    prefect = demo.run_prefect_flow(url, startup_timeout=300)  # a loaded CI machine starts Prefect slowly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [launch] = ingest(_nextflow_launch(root))
    v1 = ln.Transform(key="scripts/clean.py", type="script", source_code="x = 1\nprint(x)\n").save()
    v2 = ln.Transform(key="scripts/clean.py", type="script", source_code="x = 2\nprint(x)\nprint('done')\n").save()
    first = ln.Run(v1, name="first cleaning", params={"note": "first"})
    first.status = "completed"
    first.save()
    xss = ln.Run(v2, name=XSS, reference=XSS, reference_type="test", params={"note": XSS})
    xss.status = "errored"
    xss.save()
    task = ln.Run.get(reference=demo.NEXTFLOW_TASK)
    return Recorded(url, smk.uid, prefect.uid, launch.run.uid, xss.uid, v1.uid, v2.uid, task.uid, first.uid)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def recorded(request, tmp_path_factory):
    """Recorded data in a fresh store of each kind, shared by the UI tests of one session."""
    from flowprov.core.store.connection import disconnect_all

    root = tmp_path_factory.mktemp("ui-store")
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "FLOWPROV_DB")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(root / "home" / var.lower())
    os.environ.pop("FLOWPROV_DB", None)
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'store.db'}"
    else:
        require_pg()
        schema, url = new_pg_schema_url()
    try:
        yield record_everything(url, root)
    finally:
        disconnect_all()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if schema:
            drop_pg_schema(schema)
