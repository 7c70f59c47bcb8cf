"""`make demo`: record runs on the embedded SQLite default and print what was recorded.

1. the lamindb Run-page example: a pipeline transform and a run with a reference;
2. a tracked script (examples/script/analysis.py) run as a real subprocess, reading an input file
   and writing an output — printed back with its params, inputs, outputs and environment;
3. a Nextflow launch ingested from its files: the data-lineage store of a real launch of the
   Nextflow training (tests/data/nextflow/training_lineage_store: task CONVERTTOUPPER wrote
   UPPER-Ciao-output.txt), with the trace line of that task (its name, hash and start, from the
   store's own records) and the output file as its record describes it (5 bytes, "CIAO");
4. the Snakemake workflow in examples/snakemake, run with flowprov's hooks: the execution and
   one child run per job; one sample is the Nextflow task's output, so lineage goes from a
   Snakemake result through its job to the Nextflow task that made the job's input;
5. the Prefect flow in examples/prefect with @tracked, on a temporary local Prefect server: the
   flow run and one child run per task run;
6. the Snakemake execution exported as a Workflow Run RO-Crate (flowprov.interop), checked by
   rocrate-validator offline (its HTTP cache seeded with the official RO-Crate 1.1 context).

Uses the normal store lookup (FLOWPROV_DB, else the nearest `.flowprov/`, else the per-user
default), so what it records stays there for `flowprov runs` / `flowprov show` afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import flowprov as ln
from flowprov.core.store.connection import current_store_source

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NEXTFLOW_LINEAGE = REPO / "tests" / "data" / "nextflow" / "training_lineage_store"
NEXTFLOW_TASK = "5f4fa3256b218126530cd02dc45dfd46"  # CONVERTTOUPPER (1) in that store
TRACE_HEADER = (
    "task_id\thash\tnative_id\tname\tstatus\texit\tsubmit\tduration\trealtime\t%cpu\tpeak_rss\tpeak_vmem\trchar\twchar"
)


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


def nextflow_launch_dir() -> tuple[Path, Path]:
    """The training launch's lineage store and trace in a fresh directory, and where its task's
    output lies on this machine (the store's FileOutput record points there)."""
    launch = Path(tempfile.mkdtemp(prefix="flowprov-demo-nf-")) / "launch"
    shutil.copytree(NEXTFLOW_LINEAGE, launch / ".lineage")
    output = launch / "work" / NEXTFLOW_TASK[:2] / NEXTFLOW_TASK[2:] / "UPPER-Ciao-output.txt"
    output.parent.mkdir(parents=True)
    output.write_text("CIAO\n")  # what `tr '[a-z]' '[A-Z]'` made of "Ciao\n": 5 bytes, as recorded
    record = launch / ".lineage" / NEXTFLOW_TASK / "UPPER-Ciao-output.txt" / ".data.json"
    data = json.loads(record.read_text())
    data["spec"]["path"] = str(output)
    record.chmod(0o644)
    record.write_text(json.dumps(data))
    task = json.loads((launch / ".lineage" / NEXTFLOW_TASK / ".data.json").read_text())["spec"]
    trace_line = (
        f"1\t{NEXTFLOW_TASK[:2]}/{NEXTFLOW_TASK[2:8]}\t1\t{task['name']}\tCOMPLETED\t0\t2026-06-15 11:09:38.000"
    )
    (launch / "trace.txt").write_text(f"{TRACE_HEADER}\n{trace_line}\t1s\t1s\t-\t-\t-\t-\t-\n")
    return launch, output


def ingest_nextflow_launch() -> tuple[ln.Run, Path]:
    """3. the Nextflow launch (into the current store); its run and its task's output file."""
    from flowprov.integrations.nextflow import ingest

    launch, output = nextflow_launch_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the store's notes on what a demo launch lacks (no report, no log)
        [result] = ingest(launch, timezone="Europe/Rome")
    return result.run, output


def run_snakemake_workflow(store_url: str, extra_samples: dict[str, Path] | None = None) -> ln.Run:
    """4. the Snakemake workflow; `extra_samples` (name -> file) are read as more data/ samples."""
    work = Path(tempfile.mkdtemp(prefix="flowprov-demo-smk-")) / "workflow"
    shutil.copytree(HERE / "snakemake", work, ignore=shutil.ignore_patterns("results", "logs", ".snakemake"))
    samples = ["alpha", "beta"]
    for name, path in (extra_samples or {}).items():
        shutil.copyfile(path, work / "data" / f"{name}.txt")
        samples.append(name)
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    snakemake = Path(sys.executable).parent / "snakemake"
    config = ["--config", f"samples=[{','.join(samples)}]"] if extra_samples else []
    subprocess.run([str(snakemake), "-c2", "--quiet", *config], cwd=work, env=env, check=True)
    return ln.Run.filter(reference_type="snakemake_workflow_id").order_by("-id").first()


PREFECT_RUNNER = """
import os
import sys
from pathlib import Path
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness
sys.path.insert(0, sys.argv[1])
from etl import etl
if os.environ.get("PREFECT_API_URL"):  # a Prefect server the caller already runs
    etl(Path(sys.argv[2]))
    sys.exit(0)
# a temporary local Prefect server, so the demo needs no Prefect setup of yours
with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness(server_startup_timeout=int(sys.argv[3])):
    etl(Path(sys.argv[2]))
"""


def run_prefect_flow(store_url: str, startup_timeout: int = 60, api_url: str | None = None) -> ln.Run:
    """The Prefect flow on a temporary local Prefect server, or on the server at `api_url`."""
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
        # the temporary server cancels its event flushes when it shuts down and logs each as an
        # error with a traceback (Prefect's own shutdown noise, after the flow and its records)
        "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    }
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
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
        outputs = ", ".join(a.uri.rsplit("/", 1)[-1] for a in child.output_artifacts.all().filter(run=child))
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
    print("\n3. a Nextflow launch ingested from its lineage store and trace (the Nextflow training's):")
    nextflow_run, nextflow_output = ingest_nextflow_launch()
    show(nextflow_run, children="task")
    print("\n4. a Snakemake workflow with flowprov's hooks (examples/snakemake), run as a subprocess,")
    print("   with the Nextflow task's output as its sample `ciao`:")
    snakemake_run = run_snakemake_workflow(store.url, {"ciao": nextflow_output})
    show(snakemake_run, children="job")
    print("\n5. a Prefect flow with @tracked (examples/prefect/etl.py), on a temporary Prefect server:")
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
    ciao = snakemake_run.initiated_runs.filter(name__contains="ciao").first()
    if ciao is not None:
        print(
            f"  from the Snakemake job {ciao.name} (/runs/{ciao.uid}) its input leads to the Nextflow task that made it"
        )


def load_validators():
    """tests/interop/validators.py: the offline rocrate-validator run the tests use."""
    spec = importlib.util.spec_from_file_location("flowprov_validators", REPO / "tests" / "interop" / "validators.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_crate(run: ln.Run) -> None:
    """6. the Snakemake execution as a Workflow Run RO-Crate (Provenance Run Crate 0.5), validated."""
    from flowprov.interop import export

    work = Path(tempfile.mkdtemp(prefix="flowprov-demo-crate-"))
    crate = export(run, "ro-crate", work / "crate")
    print(f"\n6. the Snakemake run as a Provenance Run Crate: {crate}")
    if shutil.which("rocrate-validator", path=str(Path(sys.executable).parent)) is None:
        print(f"   check it: rocrate-validator validate -p provenance-run-crate-0.5 {crate}")
        return
    validators = load_validators()
    cache = validators.seed_validator_cache(work / "validator-cache")
    report = validators.validate_crate(crate, cache)
    verdict = "valid" if report["passed"] else f"NOT valid: {len(report['issues'])} issues"
    print(f"   rocrate-validator (offline, -p provenance-run-crate-0.5 -l required): {verdict}")
    if not report["passed"]:
        for issue in report["issues"][:5]:
            print(f"     {issue.get('message', issue) if isinstance(issue, dict) else issue}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
