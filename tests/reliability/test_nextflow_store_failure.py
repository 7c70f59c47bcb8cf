"""Nextflow against a store that cannot be written (issue 13): `flowprov nextflow run` keeps
Nextflow's exit status and `ingest-nextflow-trace` exits 1; both print one line naming the spool
file, which `flowprov spool replay` writes exactly (and a second replay adds nothing). Real
processes, a real trace file, the stand-in `nextflow`, both stores, unreachable and read-only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import flowprov as ln
from flowprov.integrations.nextflow.ingest import INGEST_INCOMPLETE
from tests.conftest import REPO
from tests.integrations.nextflow_stand_in import SESSION, install_stand_in
from tests.reliability.test_track_offline import unwritable

DATA = REPO / "tests" / "data" / "nextflow"
OPENPROBLEMS_TASKS = 217


def spool_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "flowprov" / "spool"


def one_spool_line(stderr: str) -> Path:
    """The single flowprov line of a spooled recording, and the file it names."""
    lines = [line for line in stderr.strip().splitlines() if line.startswith("flowprov")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("flowprov: error: could not record Nextflow launch"), lines
    assert "flowprov spool replay" in lines[0]
    [pending] = sorted(spool_dir().glob("spool-*.json"))
    assert str(pending) in lines[0]
    return pending


def replay_twice(pending: Path, store_url: str, runs: int) -> None:
    replay = [sys.executable, "-m", "flowprov.cli", "spool", "replay", "--db", store_url]
    first = subprocess.run(replay, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and f"{runs} new run(s) of {runs}" in first.stdout, first.stdout + first.stderr
    done = spool_dir() / "done" / pending.name
    again = subprocess.run([*replay[:-2], str(done), *replay[-2:]], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"0 new run(s) of {runs}" in again.stdout, again.stdout + again.stderr


@pytest.mark.parametrize("fault", ["unreachable", "read-only"])
def test_ingest_cli_spools_a_launch_the_store_refuses(store_url, tmp_path, fault):
    (tmp_path / "dir.db").mkdir()
    trace = tmp_path / "execution_trace.txt"
    shutil.copy(DATA / "openproblems_loving_blackwell_trace.txt", trace)
    shutil.copy(DATA / "openproblems_report.html", tmp_path / "execution_report.html")
    with unwritable(store_url, tmp_path, fault) as bad_url:
        done = subprocess.run(
            [sys.executable, "-m", "flowprov.cli", "nextflow", "ingest", str(trace), "--db", bad_url, "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 1, done.stderr
    pending = one_spool_line(done.stderr)
    replay_twice(pending, store_url, OPENPROBLEMS_TASKS + 1)
    ln.connect(store_url)
    [launch] = ln.Run.filter(reference_type="nextflow_session_id").list()
    assert launch.name == "loving_blackwell" and launch.status == "completed"
    assert INGEST_INCOMPLETE not in (launch.aux or {}) and launch.report is not None
    assert launch.initiated_runs.count() == OPENPROBLEMS_TASKS
    assert ln.Run.filter(reference_type="nextflow_task_hash").count() == OPENPROBLEMS_TASKS


@pytest.mark.parametrize(("fault", "fail"), [("unreachable", False), ("read-only", True)])
def test_nextflow_run_keeps_its_exit_status_and_spools(store_url, tmp_path, fault, fail):
    (tmp_path / "dir.db").mkdir()
    bin_dir = install_stand_in(tmp_path / "bin")
    work = tmp_path / "launch"
    work.mkdir()
    with unwritable(store_url, tmp_path, fault) as bad_url:
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FLOWPROV_DB": bad_url}
        command = [sys.executable, "-m", "flowprov.cli", "nextflow", "run", "nf-core/hello", "--greeting", "hi"]
        done = subprocess.run(
            command + (["--fail"] if fail else []), cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
    assert done.returncode == (1 if fail else 0), done.stderr
    assert "N E X T F L O W" in done.stdout
    stderr = re.sub(r"^flowprov: running .*\n", "", done.stderr, flags=re.M)  # the command it ran
    pending = one_spool_line(stderr)
    replay_twice(pending, store_url, 3)  # the launch and its two tasks
    ln.connect(store_url)
    launch = ln.Run.get(reference=SESSION)
    assert launch.status == ("errored" if fail else "completed")
    if fault == "read-only":  # the store opened: the live receiver ran, and its buffer is in the same file
        assert launch.params["greeting"] == "hi" and launch.aux["nextflow_version"] == "stand-in"
    assert INGEST_INCOMPLETE not in (launch.aux or {})
    assert sorted(r.name for r in launch.initiated_runs.all()) == ["SAY_HELLO (1)", "SAY_HELLO (2)"]
