"""A long Nextflow ingest shares the store (issue 13): it commits chunk by chunk, so another
writer started meanwhile finishes within seconds, and an ingest killed halfway is recognisable
(the launch's aux["ingest_incomplete"]) and completes exactly when the trace is ingested again.
Real processes, a generated trace in the documented format, both stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flowprov as ln
from flowprov.integrations.nextflow import ingest
from flowprov.integrations.nextflow.ingest import CHUNK, INGEST_INCOMPLETE

SESSION = "0a1b2c3d-0000-4000-8000-00000000beef"
FIELDS = ["task_id", "hash", "native_id", "process", "name", "status", "exit", "submit", "duration", "realtime"]
PROCESSES = ["FASTQC", "TRIM", "ALIGN", "SORT", "QUANT"]

# Another process records one run through the Recorder while the ingest runs; it prints how long
# its write took (connect + flush: what waits on the store's write lock).
WRITER = textwrap.dedent(
    """
    import sys, time
    import flowprov as ln
    from flowprov.core.tracking.recorder import Recorder, TransformSpec

    started = time.monotonic()
    store = ln.connect(sys.argv[1])
    rec = Recorder(store)
    run = rec.open_run(TransformSpec(key="small_writer.py", type="script"), reference="w-1", reference_type="script_run")
    rec.close_run(run, "completed")
    rec.flush()
    print(f"{time.monotonic() - started:.3f}")
    """
)


def write_trace(path: Path, tasks: int) -> None:
    """A trace of `tasks` completed tasks with the default fields (tab-separated, human units)."""
    with open(path, "w") as fh:
        fh.write("\t".join(FIELDS) + "\n")
        for i in range(1, tasks + 1):
            process = PROCESSES[i % len(PROCESSES)]
            submit = f"2026-11-01 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}"
            fh.write(
                f"{i}\t{i % 256:02x}/{i:06x}\t{100000 + i}\t{process}\t{process} (s{i})\tCOMPLETED\t0\t{submit}\t2.5s\t2s\n"
            )


def start_ingest(trace: Path, url: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "flowprov.cli", "nextflow", "ingest", str(trace), "--db", url]
    command += ["--session-id", SESSION, "--run-name", "big_launch", "--timezone", "UTC", "--json"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def task_runs() -> int:
    return ln.Run.filter(reference_type="nextflow_task_hash").count()


def the_launch() -> ln.Run | None:
    return ln.Run.filter(reference_type="nextflow_session_id", reference=SESSION).first()


def wait_for_tasks(proc: subprocess.Popen[str], at_least: int, timeout: float = 240) -> int:
    """Poll the store (readers never wait on a writer) until the ingest has committed some chunks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the ingest ended early: {proc.stderr.read() if proc.stderr else ''}"
        written = task_runs()
        if written >= at_least:
            return written
        time.sleep(0.1)
    raise AssertionError(f"the ingest committed fewer than {at_least} task runs in {timeout} s")


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_small_writer_during_a_300k_task_ingest_finishes_within_5_s(store, tmp_path):
    trace = tmp_path / "trace.txt"
    write_trace(trace, 300_000)
    proc = start_ingest(trace, store.url)
    try:
        wait_for_tasks(proc, CHUNK)  # committing chunks: the ingest is writing now
        writer = tmp_path / "small_writer.py"
        writer.write_text(WRITER)
        done = subprocess.run(
            [sys.executable, str(writer), store.url], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        waited = float(done.stdout.strip())
        assert proc.poll() is None, "the ingest ended before the writer: the test proves nothing"
        assert waited < 5.0, f"the writer waited {waited} s for the store during the ingest"
        assert task_runs() < 300_000
    finally:
        kill(proc)
    assert ln.Run.filter(reference="w-1", reference_type="script_run").count() == 1
    assert INGEST_INCOMPLETE in the_launch().aux  # killed halfway: still marked


def test_kill_9_mid_ingest_then_reingest_is_exact(store, tmp_path):
    tasks = 4 * CHUNK
    trace = tmp_path / "trace.txt"
    write_trace(trace, tasks)
    proc = start_ingest(trace, store.url)
    try:
        written = wait_for_tasks(proc, CHUNK)
    finally:
        kill(proc)
    partial = task_runs()
    assert written <= partial < tasks and partial % CHUNK == 0  # whole chunks, nothing half-written
    launch = the_launch()
    assert launch is not None and INGEST_INCOMPLETE in launch.aux and launch.status == "started"

    [result] = ingest(trace, session_id=SESSION, run_name="big_launch", timezone="UTC", store=store)
    assert result.tasks == tasks and result.spooled is None
    assert task_runs() == tasks
    references = ln.Run.filter(reference_type="nextflow_task_hash").values_list("reference", flat=True)
    assert len(set(references)) == tasks  # no task twice
    [launch] = ln.Run.filter(reference_type="nextflow_session_id").list()
    assert INGEST_INCOMPLETE not in (launch.aux or {}) and launch.status == "completed"
    assert launch.aux["task_counts"]["tasks"] == tasks
    assert launch.initiated_runs.count() == tasks
