"""Snakemake features the hooks must see through: temp() files, report() marks, `run:` blocks,
included files in subfolders, an execution killed with -9 then resumed, and the cluster-generic
executor with a local submit script. Real Snakemake, both stores."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowprov as ln
from tests.conftest import require_module
from tests.integrations.test_snakemake import HOOKS, SNAKEMAKE

require_module("snakemake")

MAIN = """
include: "mod/Snakefile"

rule all:
    input: "out/final.txt", "out/stamp.txt"

rule make_temp:
    input: "in/data.txt"
    output: temp("out/tmp.txt")
    group: "prep"
    shell: "(cat {input}; echo made) > {output}"

rule final:
    input: "out/tmp.txt"
    output: report("out/final.txt", caption="caption.rst", category="Results")
    shadow: "minimal"
    shell: "(cat {input}; echo final) > {output}"
"""

MODULE = """
rule stamp:
    output: "out/stamp.txt"
    run:
        with open(output[0], "w") as fh:
            fh.write("stamped\\n")
"""


def run_snakemake(root: Path, store_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    return subprocess.run([SNAKEMAKE, "-c1", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_temp_files_report_marks_run_blocks_and_include_labels(store_url, tmp_path):
    from flowprov.core.hashing import hash_path

    root = tmp_path / "wf"
    (root / "in").mkdir(parents=True)
    (root / "mod").mkdir()
    (root / "in" / "data.txt").write_text("data\n")
    (root / "caption.rst").write_text("The final table.\n")
    (root / "Snakefile").write_text(HOOKS + MAIN)
    (root / "mod" / "Snakefile").write_text(MODULE)
    result = run_snakemake(root, store_url)
    assert result.returncode == 0 and "flowprov: error" not in result.stderr, result.stderr[-3000:]
    assert not (root / "out" / "tmp.txt").exists()  # Snakemake deleted the temp file
    ln.connect(store_url)
    [wf] = ln.Run.filter(reference_type="snakemake_workflow_id").list()
    jobs = {r.name: r for r in wf.initiated_runs.all()}
    # the temp file: written by make_temp, read by final, with the content it had
    [tmp_written] = jobs["make_temp"].output_artifacts.list()
    [tmp_read] = jobs["final"].input_artifacts.list()
    assert tmp_written.id == tmp_read.id and tmp_written.run_id == jobs["make_temp"].id
    assert tmp_written.size == len("data\nmade\n")
    assert [Path(a.path).name for a in wf.input_artifacts] == ["data.txt"]  # the temp file is not external
    [final] = jobs["final"].output_artifacts.list()
    assert final.hash == hash_path(root / "out" / "final.txt").hash
    [mark] = jobs["final"].aux["report"]
    assert mark["path"] == "out/final.txt" and mark["category"] == "Results" and mark["caption"].endswith("caption.rst")
    assert "group" not in jobs["make_temp"].aux  # the local executor runs no groups
    assert jobs["final"].aux["shadow"] == "minimal"
    # a run: block's source as written, each line once
    source = jobs["stamp"].transform.source_code
    assert source.count('with open(output[0], "w") as fh:') == 1 and "fh.write" in source
    # included files labelled by their path, not their name
    assert "# ---- Snakefile\n" in wf.transform.source_code and "# ---- mod/Snakefile\n" in wf.transform.source_code


SLOW = """
rule all:
    input: "out/fast.txt", "out/slow.txt"

rule fast:
    output: "out/fast.txt"
    shell: "echo fast > {output}"

rule slow:
    input: "out/fast.txt"
    output: "out/slow.txt"
    shell: "if [ ! -e resumed ]; then sleep 120; fi; echo slow > {output}"
"""


def test_an_execution_killed_with_9_is_settled_by_the_next(store_url, tmp_path):
    from flowprov.core.store.connection import disconnect_all

    root = tmp_path / "wf"
    root.mkdir()
    (root / "Snakefile").write_text(HOOKS + SLOW)
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    killed = subprocess.Popen(
        [SNAKEMAKE, "-c1"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (root / "out" / "fast.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        ln.connect(store_url)
        [died] = ln.Run.filter(reference_type="snakemake_workflow_id").list()
        assert died.status == "started"
        disconnect_all()  # read the settled run afresh below
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    (root / "resumed").write_text("")
    reconcile = [sys.executable, "-m", "flowprov.cli", "snakemake", "reconcile", str(root), "--db", store_url]
    locked = subprocess.run(reconcile, capture_output=True, text=True, timeout=120)
    assert locked.returncode == 2 and "holds this directory's lock" in locked.stderr  # it may still run
    assert len(locked.stderr.strip().splitlines()) == 1 and "Traceback" not in locked.stderr
    assert run_snakemake(root, store_url, "--unlock").returncode == 0
    settled = subprocess.run(reconcile, capture_output=True, text=True, timeout=120)
    assert settled.returncode == 0 and "1 execution(s) settled as aborted" in settled.stdout, settled.stderr
    result = run_snakemake(root, store_url, "--rerun-incomplete")
    assert result.returncode == 0 and "flowprov: error" not in result.stderr, result.stderr[-3000:]
    ln.connect(store_url)
    runs = ln.Run.filter(reference_type="snakemake_workflow_id").order_by("id").list()
    assert [r.status for r in runs] == ["aborted", "completed"]
    before, after = runs
    assert before.uid == died.uid and before.finished_at >= before.started_at
    assert after.aux["resumes"] == before.uid
    assert {r.name for r in after.initiated_runs.all()} >= {"slow", "all"}


SUBMIT = """#!/bin/sh
# a stand-in scheduler on this machine: start the job script in the background, print its id
nohup sh "$1" > "$1.out" 2>&1 &
echo "local-$!"
"""

CLUSTER = """
rule all:
    input: "out/remote.txt"

rule remote:
    output: "out/remote.txt"
    group: "g"
    shell: "sleep 1; echo remote > {output}"
"""


def test_cluster_generic_jobs_get_the_scheduler_id_and_times_that_say_where_they_came_from(store_url, tmp_path):
    require_module("snakemake_executor_plugin_cluster_generic")
    root = tmp_path / "wf"
    root.mkdir()
    (root / "Snakefile").write_text(HOOKS + CLUSTER)
    (root / "submit.sh").write_text(SUBMIT)
    (root / "submit.sh").chmod(0o755)
    args = ("--executor", "cluster-generic", "--cluster-generic-submit-cmd", "./submit.sh", "--jobs", "2")
    result = run_snakemake(root, store_url, *args, "--latency-wait", "10")
    assert result.returncode == 0 and "flowprov: error" not in result.stderr, result.stderr[-3000:]
    [submitted] = [line for line in result.stderr.splitlines() if "Submitted group job" in line]
    ln.connect(store_url)
    [job] = ln.Run.filter(reference_type="snakemake_job_id", name="remote").list()
    assert job.aux["external_jobid"] in submitted and job.aux["external_jobid"].startswith("local-")
    written = (root / "out" / "remote.txt").stat().st_mtime
    assert job.finished_at.timestamp() == pytest.approx(written, abs=0.01)  # not the status poll's moment
    assert job.started_at.isoformat() == job.aux["submitted_at"] and job.started_at <= job.finished_at
    assert "newest output's modification time" in job.aux["times"]
    assert job.aux["group"] == "g"  # submitted as a group job: its scheduler id is the group's


def _runs_in_a_terminal(store_url: str, columns: int, *args: str) -> str:
    """`flowprov runs` printing to a real pseudo-terminal `columns` wide (a table, not JSON)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "runs", "--db", store_url, *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode == 0, done.stderr
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # colours are not characters on the screen


def test_runs_fit_an_80_column_terminal_uids_and_references_whole(store):
    from flowprov.core.tracking.recorder import Recorder, TransformSpec

    rec = Recorder(store)
    workflow_id = "9f0c2a54-1b7e-4c3d-8a6f-2e5d7c9b1a30"
    wf = rec.open_run(
        TransformSpec(key="workflows/rna-seq/Snakefile", type="pipeline"),
        reference=workflow_id,
        reference_type="snakemake_workflow_id",
    )
    job = rec.open_run(
        TransformSpec(key="workflows/rna-seq/Snakefile#align_reads_with_star", type="step"),
        reference=f"{workflow_id}:12",
        reference_type="snakemake_job_id",
        name="align_reads_with_star (sample=patient-0042-tumour, lane=L001)",
        parent=wf,
    )
    rec.close_run(job, "completed")
    rec.close_run(wf, "completed")
    rec.flush()
    url = store.url
    narrow = _runs_in_a_terminal(url, 80)
    assert max(len(line) for line in narrow.splitlines()) <= 80, narrow
    for handle in (wf, job):
        assert handle.run.uid in narrow and handle.reference in narrow  # whole, on one line
    assert "…" not in narrow and "--wide shows them" in narrow
    wide = _runs_in_a_terminal(url, 80, "--wide")
    assert "snakemake_job_id" in wide and "align_reads_with_star (sample=patient-0042-tumour, lane=L001)" in wide
    assert "--wide shows them" not in wide
