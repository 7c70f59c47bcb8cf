"""Snakemake features that need executions of their own: an execution killed with -9 then resumed,
and the cluster-generic executor with a local submit script; and listings that fit a terminal.
Real Snakemake, both stores. (temp(), report(), group:, shadow:, run: blocks and includes are
checked on hooks, plugin and both in test_snakemake_entry_points.py.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

import flowprov as ln
from tests.conftest import require_module
from tests.integrations.test_snakemake import HOOKS, SNAKEMAKE

require_module("snakemake")


def entry_point(store_url: str) -> str:
    """Each feature on both entry points at no extra execution: the hooks on SQLite, the plugin on
    PostgreSQL (test_snakemake_entry_points.py shows they record the same)."""
    return "hooks" if store_url.startswith("sqlite") else "plugin"


def snakefile(store_url: str, rules: str) -> str:
    return (HOOKS if entry_point(store_url) == "hooks" else "") + rules


def snakemake_args(store_url: str) -> list[str]:
    plugin = entry_point(store_url) == "plugin"
    return [SNAKEMAKE, "-c1", *(["--logger", "flowprov", "--logger-flowprov-db", store_url] if plugin else [])]


def run_snakemake(root: Path, store_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    return subprocess.run(
        [*snakemake_args(store_url), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


SLOW = """
rule all:
    input: "out/fast.txt", "out/slow.txt"

rule fast:
    output: "out/fast.txt", "out/fast2.txt"
    log: "logs/fast.log"
    shell: "echo fast > {output[0]}; echo two > {output[1]}; echo log > {log}"

rule slow:
    input: "out/fast.txt"
    output: "out/slow.txt"
    shell: "if [ ! -e resumed ]; then sleep 120; fi; echo slow > {output}"
"""


def test_an_execution_killed_with_9_is_settled_by_the_next(store_url, tmp_path):
    from flowprov.core.store.connection import disconnect_all

    root = tmp_path / "wf"
    root.mkdir()
    (root / "Snakefile").write_text(snakefile(store_url, SLOW))
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    killed = subprocess.Popen(
        snakemake_args(store_url),
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        slow_started = root / ".snakemake" / "incomplete" / urlsafe_b64encode(b"out/slow.txt").decode()
        while not slow_started.exists() and time.monotonic() < deadline:  # fast finished and recorded
            time.sleep(0.2)
        ln.connect(store_url)
        # the plugin writes the execution's start from Snakemake's logging thread: wait for it
        while not ln.Run.filter(reference_type="snakemake_workflow_id").count() and time.monotonic() < deadline:
            time.sleep(0.3)
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
    if entry_point(store_url) == "hooks":  # `flowprov snakemake reconcile` settles it; with the plugin, the rerun
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
    by = "flowprov snakemake reconcile" if entry_point(store_url) == "hooks" else "the next execution"
    assert by in before.aux["aborted_by"]
    assert {r.name for r in after.initiated_runs.all()} >= {"slow", "all"}
    # the job that finished before the kill: a run of the died execution, from its log and metadata
    [fast] = before.initiated_runs.all().list()
    assert fast.name == "fast" and fast.status == "completed" and fast.reference == f"{before.reference}:1"
    assert fast.transform.key == "Snakefile#fast" and "echo fast > {output[0]}" in fast.transform.source_code
    assert fast.aux["shellcmd"].startswith("echo fast > out/fast.txt") and "Finished jobid" in fast.aux["settled_from"]
    assert sorted(Path(a.path).name for a in fast.output_artifacts) == ["fast.log", "fast.txt", "fast2.txt"]
    assert fast.aux["times"].startswith("Snakemake's metadata") and fast.started_at <= fast.finished_at
    assert fast.finished_at.timestamp() == pytest.approx((root / "out" / "fast2.txt").stat().st_mtime, abs=0.5)
    assert before.started_at <= fast.started_at and fast.finished_at <= before.finished_at


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
    benchmark: "bench/remote.tsv"
    group: "g"
    shell: "sleep 1; echo remote > {output}"
"""


def test_cluster_generic_jobs_get_the_scheduler_id_and_times_that_say_where_they_came_from(store_url, tmp_path):
    require_module("snakemake_executor_plugin_cluster_generic")
    root = tmp_path / "wf"
    root.mkdir()
    (root / "Snakefile").write_text(snakefile(store_url, CLUSTER))
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
    # the start: the end less the job's own benchmark time, after the submission
    assert job.aux["submitted_at"] < job.started_at.isoformat() and job.started_at <= job.finished_at
    seconds = (job.finished_at - job.started_at).total_seconds()
    assert seconds == pytest.approx(job.aux["benchmark"]["s"], abs=0.01) and seconds >= 1
    assert job.aux["times"] == (
        "start: the end less the job's own benchmark time (s); end: the newest output's modification time"
    )
    assert job.aux["host"] is None and "does not report" in job.aux["host_unknown"]
    assert "tmpdir" not in job.aux["resources"]  # '<TBD>' in the main process: not a value
    assert job.aux["group"] == "g"  # submitted as a group job: its scheduler id is the group's


def _in_a_terminal(store_url: str, columns: int, *args: str) -> str:
    """A `flowprov` listing printing to a real pseudo-terminal `columns` wide (a table, not JSON).

    In this process (a new Python per listing costs seconds): file descriptor 1 and sys.stdout
    are the terminal while the command runs, so rich and the CLI see what a user's shell gives them."""
    import fcntl
    import pty
    import struct
    import termios

    from flowprov.cli import app

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    saved_fd, saved_stdout, saved_env = (
        os.dup(1),
        sys.stdout,
        {k: os.environ.pop(k, None) for k in ("COLUMNS", "LINES")},
    )
    os.dup2(follower, 1)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (restored below)
    try:
        app([*args, "--db", store_url], standalone_mode=False)
        sys.stdout.flush()
    finally:
        sys.stdout = saved_stdout
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        os.environ.update({k: v for k, v in saved_env.items() if v is not None})
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
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # colours are not characters on the screen


def test_listings_fit_an_80_column_terminal_uids_and_references_whole(store):
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
    narrow = _in_a_terminal(url, 80, "runs")
    assert max(len(line) for line in narrow.splitlines()) <= 80, narrow
    for handle in (wf, job):
        assert handle.run.uid in narrow and handle.reference in narrow  # whole, on one line
    assert "…" not in narrow and "--wide shows them" in narrow
    wide = _in_a_terminal(url, 80, "runs", "--wide")
    assert "snakemake_job_id" in wide and "align_reads_with_star (sample=patient-0042-tumour, lane=L001)" in wide
    assert "--wide shows them" not in wide
    # every listing: transforms (keys whole), a run's child runs (uids and references whole)
    for args, whole in (
        (("transforms",), [t.uid for t in ln.Transform.filter().list()]),
        (("show", wf.run.uid), [job.run.uid, job.reference]),
    ):
        narrow = _in_a_terminal(url, 80, *args)
        assert max(len(line) for line in narrow.splitlines()) <= 80, narrow
        assert all(text in narrow for text in whole) and "…" not in narrow and "--wide shows them" in narrow, narrow
    assert "--wide shows them" not in _in_a_terminal(url, 80, "show", wf.run.uid, "--wide")
    # narrower than the whole columns plus room for the rest: those are dropped, none squeezed to nothing
    tiny = _in_a_terminal(url, 60, "runs")
    assert "┳┳" not in tiny and "status" in tiny.split("not shown:")[1] and wf.reference in tiny, tiny
