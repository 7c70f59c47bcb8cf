"""Real Snakemake workflows run as subprocesses with the flowprov hooks, on both stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flowprov as ln
from tests.conftest import require_module

require_module("snakemake")
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

HOOKS = """
from flowprov.integrations import snakemake as flowprov_snakemake

onstart:   flowprov_snakemake.onstart(workflow, log)
onsuccess: flowprov_snakemake.onsuccess(workflow, log)
onerror:   flowprov_snakemake.onerror(workflow, log)
"""

RULES = """
configfile: "config.yaml"

rule all:
    input: expand("out/{s}.txt", s=config["samples"]), "out/summary.txt", "out/stamp.txt"

rule copy:
    input: "in/{s}.txt"
    output: "out/{s}.txt"
    params: n=3, label=lambda wc: wc.s.upper(), api_token="t0ps3cret"
    log: "logs/{s}.log"
    benchmark: "bench/{s}.tsv"
    threads: 2
    shell: "if [ {wildcards.s} = \\"${{FAIL_SAMPLE:-}}\\" ]; then exit 3; fi; (cat {input}; echo copied) > {output}; echo copied {wildcards.s} > {log}"

rule summary:
    input: expand("out/{s}.txt", s=config["samples"])
    output: "out/summary.txt"
    conda: "envs/summary.yaml"
    script: "scripts/summary.py"

rule stamp:
    output: "out/stamp.txt"
    run:
        with open(output[0], "w") as fh:
            fh.write("stamped\\n")
"""


def written_by(run) -> set[str]:
    """Hashes of what a job wrote (output links), also bytes another run created first: the two
    copy jobs' benchmark files are sometimes byte-identical."""
    return {a.hash for a in run.output_artifacts}


def copy_outputs(root: Path, sample: str) -> set[str]:
    from flowprov.core.hashing import hash_path

    return {hash_path(root / rel).hash for rel in (f"out/{sample}.txt", f"logs/{sample}.log", f"bench/{sample}.tsv")}


def make_workflow(root: Path, hooks: str = HOOKS, samples=("a", "b")) -> Path:
    (root / "in").mkdir(parents=True)
    (root / "scripts").mkdir()
    for s in samples:
        (root / "in" / f"{s}.txt").write_text(f"sample {s}\n")
    (root / "scripts" / "summary.py").write_text(
        "with open(snakemake.output[0], 'w') as fh:\n    fh.write(str(len(snakemake.input)) + '\\n')\n"
    )
    (root / "config.yaml").write_text(f"samples: [{', '.join(samples)}]\nthreshold: 0.5\n")
    (root / "envs").mkdir()
    (root / "envs" / "summary.yaml").write_text("channels: [conda-forge]\ndependencies: [python=3.11]\n")
    (root / "Snakefile").write_text(hooks + RULES)
    return root


def snakemake(root: Path, store_url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "FLOWPROV_DB": store_url, **(env or {})}
    full_env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    return subprocess.run(
        [SNAKEMAKE, "-c2", *args], cwd=root, env=full_env, capture_output=True, text=True, timeout=300
    )


def executions():
    return ln.Run.filter(reference_type="snakemake_workflow_id").order_by("id").list()


OWN_HOOK = HOOKS.replace(
    "onsuccess: flowprov_snakemake.onsuccess(workflow, log)",
    "onsuccess:\n    shell('echo mine > own_hook.txt')\n    flowprov_snakemake.onsuccess(workflow, log)",
)


def test_a_full_execution_then_up_to_date_dry_rerun_and_touch(store_url, tmp_path):
    """One workflow directory, five executions: a full one (with a hook of the user's own), one
    up to date and a dry run (with the plugin too) that record nothing, a rerun after an input
    changed (only what ran), and `--touch` (touched, not executed)."""
    root = make_workflow(tmp_path / "wf", hooks=OWN_HOOK)
    result = snakemake(root, store_url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "own_hook.txt").read_text() == "mine\n"  # the user's own hook still runs
    ln.connect(store_url)
    [wf] = executions()
    _check_full_execution(root, wf)
    assert snakemake(root, store_url).returncode == 0  # up to date: no hooks
    assert snakemake(root, store_url, "-n", "--forceall", "--logger", "flowprov").returncode == 0  # dry: nothing
    assert len(executions()) == 1
    (root / "in" / "a.txt").write_text("sample a, edited\n")
    assert snakemake(root, store_url).returncode == 0
    first, second = executions()
    assert {r.name for r in second.initiated_runs.all()} == {"copy (s=a)", "summary", "all"}
    assert first.transform.id == second.transform.id  # same Snakefile, same transform
    new_a = ln.Run.get(name="copy (s=a)", initiated_by_run=second).output_artifacts.filter(path__endswith="/out/a.txt")
    old_a = ln.Run.get(name="copy (s=a)", initiated_by_run=first).output_artifacts.filter(path__endswith="/out/a.txt")
    assert new_a.one().hash != old_a.one().hash and new_a.one().uid[:16] == old_a.one().uid[:16]  # a new version
    (root / "in" / "a.txt").write_text("sample a, edited again\n")
    result = snakemake(root, store_url, "--touch")
    assert result.returncode == 0, result.stderr[-3000:]
    *_, third = executions()
    touched = {r.name: r for r in third.initiated_runs.all()}
    assert "copy (s=a)" in touched and third.aux["touch"] is True
    for run in touched.values():
        assert run.aux["touched"] is True and "shellcmd" not in run.aux  # no command ran
    assert all("touched" not in r.aux for r in [*first.initiated_runs.all(), *second.initiated_runs.all()])


def _check_full_execution(root: Path, wf) -> None:
    from flowprov.core.hashing import hash_path

    log_text = next((root / ".snakemake" / "log").glob("*.log")).read_text()
    assert f"Workflow ID: {wf.reference}" in log_text
    assert wf.status == "completed" and wf.transform.key == "Snakefile" and wf.transform.type == "pipeline"
    assert "rule copy:" in wf.transform.source_code
    assert wf.params.get_values() == {"samples": ["a", "b"], "threshold": 0.5}
    assert wf.report.uri.endswith(".snakemake.log") and wf.environment is not None
    assert sorted(a.uri.rsplit("/", 1)[-1] for a in wf.input_artifacts) == ["a.txt", "b.txt"]
    jobs = {r.name: r for r in wf.initiated_runs.all()}
    assert set(jobs) == {"copy (s=a)", "copy (s=b)", "summary", "stamp", "all"}
    copy_a = jobs["copy (s=a)"]
    assert copy_a.reference == f"{wf.reference}:{copy_a.aux['jobid']}" and copy_a.reference_type == "snakemake_job_id"
    assert copy_a.params.get_values() == {"wildcards": {"s": "a"}, "n": 3, "label": "A", "api_token": "***"}
    assert copy_a.aux["threads"] == 2 and copy_a.aux["attempt"] == 1
    assert "cat in/a.txt; echo copied) > out/a.txt" in copy_a.aux["shellcmd"]
    assert copy_a.aux["host"] and copy_a.aux["times"] == "Snakemake's job events in this process"
    assert copy_a.transform.key == "Snakefile#copy"
    assert "(cat {input}; echo copied) > {output}" in copy_a.transform.source_code
    assert written_by(copy_a) == copy_outputs(root, "a")
    assert [a.uri.rsplit("/", 1)[-1] for a in copy_a.input_artifacts] == ["a.txt"]
    assert copy_a.started_at is not None and copy_a.started_at <= copy_a.finished_at
    assert "snakemake.output[0]" in jobs["summary"].transform.source_code  # the script's content, not the directive
    assert "stamped" in jobs["stamp"].transform.source_code  # the run: block
    # a rule with only inputs: the rule as written is its source
    assert jobs["all"].transform.source_code.startswith("rule all:\n    input: expand(")
    # without --sdm conda the job ran in this venv: the conda file is named in aux, not the environment
    assert jobs["summary"].environment is None
    conda_env = jobs["summary"].aux["conda_env"]
    assert conda_env["path"] == str(root.resolve() / "envs" / "summary.yaml")
    assert conda_env["hash"] == hash_path(root / "envs" / "summary.yaml").hash
    assert jobs["copy (s=a)"].aux["benchmark"]["s"] >= 0  # benchmark metrics parsed into aux
    assert sorted(a.uri.rsplit("/", 1)[-1] for a in jobs["summary"].input_artifacts) == ["a.txt", "b.txt"]
    # lineage runs through the jobs
    up = ln.Artifact.get(path=(root / "out" / "summary.txt").resolve().as_uri()).view_lineage()
    assert {r.name for r in up.runs} == {"summary", "copy (s=a)", "copy (s=b)"}


def test_failing_rule(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    result = snakemake(root, store_url, env={"FAIL_SAMPLE": "b"})
    assert result.returncode == 1
    ln.connect(store_url)
    [wf] = executions()
    assert wf.status == "errored"
    failed = ln.Run.get(name="copy (s=b)")
    assert failed.status == "errored" and "exit 3" in failed.aux["shellcmd"]
    assert "Error in rule copy" in failed.aux["error"]  # the hooks keep the error text
    assert failed.aux["attempts"][-1]["status"] == "errored"
    assert wf.aux["jobs"]["failed"] == 1 and wf.aux["jobs"]["not_run"] >= 1


def test_logger_plugin_quiet_and_failure(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf", hooks="")
    result = snakemake(root, store_url, "--logger", "flowprov", "-q", "--keep-going", env={"FAIL_SAMPLE": "b"})
    assert result.returncode == 1
    ln.connect(store_url)
    [wf] = executions()
    statuses = {r.name: r.status for r in wf.initiated_runs.all()}
    assert wf.status == "errored" and statuses["copy (s=b)"] == "errored" and statuses["copy (s=a)"] == "completed"
    assert statuses["stamp"] == "completed" and "summary" not in statuses  # never ran: its input is missing


def test_two_different_stores_are_an_error_at_start(store_url, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    hooks = HOOKS.replace("onstart(workflow, log)", f"onstart(workflow, log, db={other!r})")
    root = make_workflow(tmp_path / "wf", hooks=hooks)
    # one job is enough: the error comes at the start (onstart, before any job)
    result = snakemake(root, store_url, "--logger", "flowprov", "--logger-flowprov-db", store_url, "out/a.txt")
    assert result.returncode == 0  # the workflow itself runs on
    assert "two different stores" in result.stderr and result.stderr.count("flowprov: error") == 1
    assert (root / "out" / "a.txt").exists()
    ln.connect(store_url)
    assert ln.Run.filter().count() == 0 and not (tmp_path / "other.db").exists()
