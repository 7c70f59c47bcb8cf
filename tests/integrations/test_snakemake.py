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


def test_a_full_execution(store_url, tmp_path):
    from flowprov.core.hashing import hash_path

    root = make_workflow(tmp_path / "wf")
    result = snakemake(root, store_url)
    assert result.returncode == 0, result.stderr[-3000:]
    ln.connect(store_url)
    [wf] = executions()
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
    assert (
        copy_a.aux["threads"] == 2
        and copy_a.aux["attempt"] == 1
        and "cat in/a.txt; echo copied) > out/a.txt" in copy_a.aux["shellcmd"]
    )
    assert (
        copy_a.transform.key == "Snakefile#copy"
        and "(cat {input}; echo copied) > {output}" in copy_a.transform.source_code
    )
    assert written_by(copy_a) == copy_outputs(root, "a")
    assert [a.uri.rsplit("/", 1)[-1] for a in copy_a.input_artifacts] == ["a.txt"]
    assert copy_a.started_at is not None and copy_a.finished_at is not None
    assert "snakemake.output[0]" in jobs["summary"].transform.source_code  # the script's content, not the directive
    assert "stamped" in jobs["stamp"].transform.source_code  # the run: block
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
    assert wf.aux["jobs"]["failed"] == 1 and wf.aux["jobs"]["not_run"] >= 1


def test_keep_going(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    result = snakemake(root, store_url, "--keep-going", env={"FAIL_SAMPLE": "b"})
    assert result.returncode == 1
    ln.connect(store_url)
    [wf] = executions()
    statuses = {r.name: r.status for r in wf.initiated_runs.all()}
    assert (
        statuses["copy (s=b)"] == "errored"
        and statuses["copy (s=a)"] == "completed"
        and statuses["stamp"] == "completed"
    )
    assert "summary" not in statuses  # never ran: its input is missing


def test_retries(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    flaky = "rule flaky:\n    output: 'out/flaky.txt'\n    shell: 'if [ ! -e marker ]; then touch marker; exit 1; fi; echo ok > {output}'\n"
    (root / "Snakefile").write_text(
        (root / "Snakefile")
        .read_text()
        .replace('"out/summary.txt", "out/stamp.txt"', '"out/summary.txt", "out/stamp.txt", "out/flaky.txt"')
        + flaky
    )
    result = snakemake(root, store_url, "--retries", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    ln.connect(store_url)
    flaky_run = ln.Run.get(name="flaky")
    assert flaky_run.status == "completed" and flaky_run.aux["attempt"] == 2


def test_rerun_records_only_what_ran_and_dry_and_up_to_date_record_nothing(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    assert snakemake(root, store_url).returncode == 0
    assert snakemake(root, store_url).returncode == 0  # up to date: no hooks
    assert snakemake(root, store_url, "-n", "--forceall").returncode == 0  # dry run: no hooks
    ln.connect(store_url)
    assert len(executions()) == 1
    (root / "in" / "a.txt").write_text("sample a, edited\n")
    assert snakemake(root, store_url).returncode == 0
    first, second = executions()
    assert {r.name for r in second.initiated_runs.all()} == {"copy (s=a)", "summary", "all"}
    assert first.transform.id == second.transform.id  # same Snakefile, same transform
    new_a = (
        ln.Run.get(name="copy (s=a)", initiated_by_run=second)
        .output_artifacts.filter(path__endswith="/out/a.txt")
        .one()
    )
    old_a = (
        ln.Run.get(name="copy (s=a)", initiated_by_run=first).output_artifacts.filter(path__endswith="/out/a.txt").one()
    )
    assert new_a.hash != old_a.hash and new_a.uid[:16] == old_a.uid[:16]  # a new version of the same file


def test_users_own_hook_still_works(store_url, tmp_path):
    own = HOOKS.replace(
        "onsuccess: flowprov_snakemake.onsuccess(workflow, log)",
        "onsuccess:\n    shell('echo mine > out/own_hook.txt')\n    flowprov_snakemake.onsuccess(workflow, log)",
    )
    root = make_workflow(tmp_path / "wf", hooks=own)
    result = snakemake(root, store_url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "out" / "own_hook.txt").read_text() == "mine\n"
    ln.connect(store_url)
    assert executions()[0].status == "completed"


def test_logger_plugin_alone(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf", hooks="")
    result = subprocess.run(
        [SNAKEMAKE, "-c2", "--logger", "flowprov", "--logger-flowprov-db", store_url],
        cwd=root,
        env={k: v for k, v in os.environ.items() if k != "FLOWPROV_DB"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ln.connect(store_url)
    [wf] = executions()
    assert wf.status == "completed" and wf.params.get_values() == {"samples": ["a", "b"], "threshold": 0.5}
    jobs = {r.name: r for r in wf.initiated_runs.all()}
    assert set(jobs) == {"copy (s=a)", "copy (s=b)", "summary", "stamp", "all"}
    assert written_by(jobs["copy (s=b)"]) == copy_outputs(root, "b")
    assert jobs["copy (s=b)"].finished_at >= jobs["copy (s=b)"].started_at


def test_logger_plugin_quiet_and_failure(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf", hooks="")
    result = snakemake(root, store_url, "--logger", "flowprov", "-q", "--keep-going", env={"FAIL_SAMPLE": "b"})
    assert result.returncode == 1
    ln.connect(store_url)
    [wf] = executions()
    statuses = {r.name: r.status for r in wf.initiated_runs.all()}
    assert wf.status == "errored" and statuses["copy (s=b)"] == "errored" and statuses["copy (s=a)"] == "completed"


def test_hooks_and_plugin_together_record_once(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    result = snakemake(root, store_url, "--logger", "flowprov")
    assert result.returncode == 0, result.stderr[-3000:]
    ln.connect(store_url)
    [wf] = executions()
    assert wf.initiated_runs.count() == 5
    copy_a = ln.Run.get(name="copy (s=a)")
    assert copy_a.params.get_values()["n"] == 3  # the hooks' named params, merged into the plugin's record
    assert (
        written_by(copy_a) == copy_outputs(root, "a") and ln.Run.filter(reference_type="snakemake_job_id").count() == 5
    )


def test_logger_plugin_dry_run_records_nothing(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf", hooks="")
    assert snakemake(root, store_url, "--logger", "flowprov", "-n").returncode == 0
    ln.connect(store_url)
    assert ln.Run.filter().count() == 0


def test_a_store_given_to_the_plugin_wins_over_flowprov_db_with_the_hooks(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    elsewhere = tmp_path / "elsewhere.db"
    result = snakemake(
        root, f"sqlite:///{elsewhere}", "--logger", "flowprov", "--logger-flowprov-db", store_url
    )  # FLOWPROV_DB points elsewhere
    assert result.returncode == 0, result.stderr[-3000:]
    ln.connect(store_url)
    [wf] = executions()
    assert wf.initiated_runs.count() == 5 and wf.params.get_values()["threshold"] == 0.5
    assert not elsewhere.exists()  # nothing went to FLOWPROV_DB


def test_two_different_stores_are_an_error_at_start(store_url, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    hooks = HOOKS.replace("onstart(workflow, log)", f"onstart(workflow, log, db={other!r})")
    root = make_workflow(tmp_path / "wf", hooks=hooks)
    result = snakemake(root, store_url, "--logger", "flowprov", "--logger-flowprov-db", store_url)
    assert result.returncode == 0  # the workflow itself runs on
    assert "two different stores" in result.stderr and result.stderr.count("flowprov: error") == 1
    assert (root / "out" / "summary.txt").exists()
    ln.connect(store_url)
    assert ln.Run.filter().count() == 0 and not (tmp_path / "other.db").exists()


def test_touch_is_recorded_as_touched(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    assert snakemake(root, store_url).returncode == 0
    (root / "in" / "a.txt").write_text("sample a, edited\n")
    result = snakemake(root, store_url, "--touch")
    assert result.returncode == 0, result.stderr[-3000:]
    ln.connect(store_url)
    first, second = executions()
    touched = {r.name: r for r in second.initiated_runs.all()}
    assert "copy (s=a)" in touched and second.aux["touch"] is True
    for run in touched.values():
        assert run.aux["touched"] is True and "shellcmd" not in run.aux  # no command ran
    assert all("touched" not in r.aux for r in first.initiated_runs.all())
