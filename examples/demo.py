"""`make demo`: record runs on the embedded SQLite default and print what was recorded.

1. the lamindb Run-page example: a pipeline transform and a run with a reference;
2. a tracked script (examples/script/analysis.py) run as a real subprocess, reading an input file
   and writing an output — printed back with its params, inputs, outputs and environment;
3. the Snakemake workflow in examples/snakemake, run with flowprov's hooks: the execution and
   one child run per job;
4. the Prefect flow in examples/prefect with @tracked, on a temporary local Prefect server: the
   flow run and one child run per task run;
5. the Snakemake execution exported as a Workflow Run RO-Crate (flowprov.interop).

Uses the normal store lookup (FLOWPROV_DB, else the nearest `.flowprov/`, else the per-user
default), so what it records stays there for `flowprov runs` / `flowprov show` afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import flowprov as ln
from flowprov.core.store.connection import current_store_source

HERE = Path(__file__).resolve().parent


def record_pipeline_run() -> ln.Run:
    transform = ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()
    run = ln.Run(
        transform,
        reference="5477e033-04ee-44f1-81c9-a72a7f1508c2",
        reference_type="nextflow_session_id",
        name="loving_blackwell",
        params={"genome": "GRCh38", "expect_cells": 3000},
    )
    run.status = "completed"
    return run.save()


def run_tracked_script(store_url: str) -> ln.Run:
    work = Path(tempfile.mkdtemp(prefix="flowprov-demo-"))
    data = work / "measurements.csv"
    data.write_text("sample,value\ns1,1.5\ns2,2.5\ns3,4.0\n")
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "script" / "analysis.py"),
            str(data),
            str(work / "summary.txt"),
            "--min-value",
            "2",
        ],
        env=env,
        check=True,
    )
    return ln.Run.filter(transform__key__endswith="analysis.py").order_by("-id").first()


def run_snakemake_workflow(store_url: str) -> ln.Run:
    work = Path(tempfile.mkdtemp(prefix="flowprov-demo-smk-")) / "workflow"
    shutil.copytree(HERE / "snakemake", work, ignore=shutil.ignore_patterns("results", "logs", ".snakemake"))
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    snakemake = Path(sys.executable).parent / "snakemake"
    subprocess.run([str(snakemake), "-c2", "--quiet"], cwd=work, env=env, check=True)
    return ln.Run.filter(reference_type="snakemake_workflow_id").order_by("-id").first()


PREFECT_RUNNER = """
import sys
from pathlib import Path
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness
sys.path.insert(0, sys.argv[1])
from etl import etl
# a temporary local Prefect server, so the demo needs no Prefect setup of yours
with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness(server_startup_timeout=int(sys.argv[3])):
    etl(Path(sys.argv[2]))
"""


def run_prefect_flow(store_url: str, startup_timeout: int = 60) -> ln.Run:
    work = Path(tempfile.mkdtemp(prefix="flowprov-demo-prefect-"))
    data = work / "measurements.csv"
    data.write_text("sample,value\ns1,1.5\ns2,2.5\ns3,4.0\n")
    env = {
        **os.environ,
        "FLOWPROV_DB": store_url,
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    env.pop("PREFECT_API_URL", None)
    subprocess.run(
        [sys.executable, "-c", PREFECT_RUNNER, str(HERE / "prefect"), str(data), str(startup_timeout)],
        env=env,
        check=True,
    )
    return ln.Run.filter(reference_type="prefect_flow_run_id").order_by("-id").first()


def show(run: ln.Run, children: str | None = None) -> None:
    print(f"  run        {run.uid}  status={run.status}  started={run.started_at:%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"  transform  {run.transform.key or run.transform.name} (type={run.transform.type}, uid={run.transform.uid})"
    )
    if run.reference:
        print(f"  reference  {run.reference_type} = {run.reference}  name={run.name}")
    print(f"  params     {run.params.get_values()}")
    for a in run.input_artifacts.all():
        print(f"  input      {a.path}  ({a.size} bytes, {a._hash_type} {a.hash})")
    for a in run.output_artifacts.all():
        print(f"  output     {a.path}  ({a.size} bytes, {a._hash_type} {a.hash})")
    if run.environment_id:
        lines = run.environment.local_path.read_text().splitlines()
        print(
            f"  environment {run.environment.uid}: {len(lines) - 1} packages, e.g. "
            f"{', '.join(line for line in lines if line.startswith(('SQLAlchemy', 'pandas')))}"
        )
    for child in run.initiated_runs.all().order_by("id") if children else []:
        outputs = ", ".join(a.path.rsplit("/", 1)[-1] for a in child.output_artifacts.all().filter(run=child))
        seen = child.recreated_artifacts.count()  # same bytes as an earlier run wrote
        outputs += f"{', ' if outputs else ''}{seen} identical to earlier outputs" if seen else ""
        print(
            f"    {children} {child.reference_type}={child.reference}  {child.name}  [{child.status}] "
            f" params={child.params.get_values()}  outputs: {outputs or '-'}"
        )


def main() -> None:
    store = ln.connect()
    print(f"store: {store.display_url} (from {current_store_source()})\n")
    print("1. a pipeline run (lamindb's Run page example, with a Nextflow session id as reference):")
    show(record_pipeline_run())
    print("\n2. a tracked script, run as a subprocess (examples/script/analysis.py):")
    show(run_tracked_script(store.url))
    print("\n3. a Snakemake workflow with flowprov's hooks (examples/snakemake), run as a subprocess:")
    snakemake_run = run_snakemake_workflow(store.url)
    show(snakemake_run, children="job")
    print("\n4. a Prefect flow with @tracked (examples/prefect/etl.py), on a temporary Prefect server:")
    show(run_prefect_flow(store.url), children="task")
    print("\nlatest runs:")
    print(
        ln.Run.filter()
        .order_by("-id")[:5]
        .df(include="transform__name")[["uid", "name", "_status_code", "reference_type", "transform__name"]]
        .to_string()
    )
    export_crate(snakemake_run)
    flowprov_command = Path(sys.executable).parent / "flowprov"
    try:
        flowprov_command = flowprov_command.relative_to(Path.cwd())
    except ValueError:
        pass
    print("\nbrowse them in the read-only web UI (http://127.0.0.1:8765/):")
    print(f"  {flowprov_command} ui --db {store.display_url} --open")


def export_crate(run: ln.Run) -> None:
    """5. the Snakemake execution as a Workflow Run RO-Crate (Provenance Run Crate 0.5)."""
    from flowprov.interop import export

    crate = export(run, "ro-crate", Path(tempfile.mkdtemp(prefix="flowprov-demo-crate-")) / "crate")
    print(f"\n5. the Snakemake run as a Provenance Run Crate: {crate}")
    print(f"   check it: rocrate-validator validate -p provenance-run-crate-0.5 {crate}")


if __name__ == "__main__":
    main()
