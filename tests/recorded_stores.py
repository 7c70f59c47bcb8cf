"""Stores filled once per test session (per xdist worker) by the real adapters, for the UI and interop tests.

What is recorded, into one store of each kind (examples/demo.py's runners):
- the Nextflow training launch's lineage store, then the Snakemake workflow (examples/snakemake) with
  that Nextflow task's output as one of its samples, so a Snakemake job's input leads to the task;
- a real Prefect flow (examples/prefect, on the session's temporary Prefect server);
- a tracked script (examples/script) run as a process;
- the real openproblems Nextflow launch (tests/data/nextflow: trace with 217 tasks, 8 failed,
  retries, its history and report) and a launch whose one task has a real work dir;
- two versions of a script transform with a run each, the second run's name markup (to check
  escaping; the two runs are what its "diff with the previous run" shows).

Each store is built at most once per worker: the fixtures of tests/ui and tests/interop take it
from `RecordedStores`, which a parametrized session fixture could not promise (pytest rebuilds one
whenever the tests of its two params interleave). Tests that use it share the xdist group
"recorded", so one worker builds both.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO, drop_pg_schema, new_pg_schema_url, require_pg

DATA = REPO / "tests" / "data" / "nextflow"
XSS = "<script>alert(1)</script>"
GROUP = "recorded"  # the xdist group of every test that uses these stores
WORKDIR_SESSION = "11111111-1111-1111-1111-111111111111"


@dataclass
class Recorded:
    url: str
    snakemake: str  # uids of the workflow runs
    prefect: str
    nextflow: str  # the openproblems launch
    xss: str
    script_v1: str  # transform uids
    script_v2: str
    nextflow_task: str  # the training launch's task, whose output the Snakemake job `ciao` read
    script_run_v1: str  # the run before `xss` of the same script
    script: str  # the tracked script's run
    nextflow_workdir: str  # the launch whose task has a real work dir

    @property
    def top_runs(self) -> dict[str, str]:
        """The top run of each adapter, as the interop tests name them."""
        return {
            "script": self.script,
            "snakemake": self.snakemake,
            "prefect": self.prefect,
            "nextflow": self.nextflow,
            "nextflow_workdir": self.nextflow_workdir,
        }


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flowprov_demo", REPO / "examples" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _openproblems_launch(root: Path) -> Path:
    launch = root / "openproblems"
    (launch / ".nextflow").mkdir(parents=True)
    (launch / "results" / "pipeline_info").mkdir(parents=True)
    shutil.copy(DATA / "openproblems_nextflow_history.tsv", launch / ".nextflow" / "history")
    info = launch / "results" / "pipeline_info"
    shutil.copy(DATA / "openproblems_loving_blackwell_trace.txt", info / "execution_trace.txt")
    shutil.copy(DATA / "openproblems_report.html", info / "execution_report.html")
    return launch


def _workdir_launch(root: Path) -> Path:
    """A one-task trace whose task has a real work dir (the wfcommons fixture); the trace file."""
    from tests.integrations.test_nextflow import HEADER

    work = root / "wd" / "work" / "00" / "02079f69661eaa3855105fdf24b5f7"
    shutil.copytree(DATA / "wfcommons_workdir_00-02079f", work)
    trace = root / "wd" / "trace.txt"
    row = "1\t00/02079f\t7\tDEMUX_SUMMARY (1)\tCOMPLETED\t0\t2021-01-01 10:00:00.000\t12s\t12s\t-\t-\t-\t-\t-\n"
    trace.write_text(HEADER + "\n" + row)
    return trace


def _scripts() -> tuple[str, str, str, str]:
    """Two versions of a script transform, a run of each (the second named with markup)."""
    import flowprov as ln

    v1 = ln.Transform(key="scripts/clean.py", type="script", source_code="x = 1\nprint(x)\n").save()
    v2 = ln.Transform(key="scripts/clean.py", type="script", source_code="x = 2\nprint(x)\nprint('done')\n").save()
    first = ln.Run(v1, name="first cleaning", params={"note": "first"})
    first.status = "completed"
    first.save()
    xss = ln.Run(v2, name=XSS, reference=XSS, reference_type="test", params={"note": XSS})
    xss.status = "errored"
    xss.save()
    return v1.uid, v2.uid, first.uid, xss.uid


def record_everything(url: str, root: Path, prefect_api_url: str) -> Recorded:
    import flowprov as ln
    from flowprov.integrations.nextflow import ingest

    demo = _demo()
    ln.connect(url)
    _, made = demo.ingest_nextflow_launch()
    smk = demo.run_snakemake_workflow(url, {"ciao": made})
    prefect = demo.run_prefect_flow(url, api_url=prefect_api_url)
    script = demo.run_tracked_script(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [launch] = ingest(_openproblems_launch(root))
        [workdir] = ingest(
            _workdir_launch(root), session_id=WORKDIR_SESSION, timezone="UTC", work_dir=root / "wd" / "work"
        )
    v1, v2, first, xss = _scripts()
    task = ln.Run.get(reference=demo.NEXTFLOW_TASK)
    return Recorded(
        url, smk.uid, prefect.uid, launch.run.uid, xss, v1, v2, task.uid, first, script.uid, workdir.run.uid
    )


ISOLATED = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR", "FLOWPROV_DB")


@dataclass
class RecordedStores:
    """One recorded store per kind, built on first use; `close()` drops them."""

    root: Path
    prefect_api_url: str
    built: dict[str, Recorded] = field(default_factory=dict)
    schemas: list[str] = field(default_factory=list)

    def get(self, kind: str) -> Recorded:
        if kind not in self.built:
            self.built[kind] = self._build(kind)
        return self.built[kind]

    def _build(self, kind: str) -> Recorded:
        root = self.root / kind
        saved = {k: os.environ.get(k) for k in ISOLATED}
        for var in ISOLATED[:4]:  # the demo's homes and temporary dirs go under this store's root
            (root / var.lower()).mkdir(parents=True)
            os.environ[var] = str(root / var.lower())
        os.environ.pop("FLOWPROV_DB", None)
        tempfile.tempdir = None
        try:
            if kind == "sqlite":
                url = f"sqlite:///{root / 'store.db'}"
            else:
                require_pg()
                schema, url = new_pg_schema_url()
                self.schemas.append(schema)
            return record_everything(url, root, self.prefect_api_url)
        finally:
            from flowprov.core.store.connection import disconnect_all

            disconnect_all()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            tempfile.tempdir = None

    def close(self) -> None:
        from flowprov.core.store.connection import disconnect_all

        disconnect_all()
        for schema in self.schemas:
            drop_pg_schema(schema)
