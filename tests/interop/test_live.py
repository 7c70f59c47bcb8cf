"""Live OpenLineage events while recording (FLOWPROV_OPENLINEAGE=1), through the client's file transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import flowprov as ln
from tests.integrations.test_snakemake import SNAKEMAKE, make_workflow
from tests.interop.validators import openlineage_errors

SCRIPT = """
import flowprov as ln
ln.track(params={"threshold": 2})
ln.track_input("in.csv")
open("out.txt", "w").write("result")
ln.track_output("out.txt")
"""


def _env(store_url: str, tmp_path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "FLOWPROV_DB": store_url, "FLOWPROV_OPENLINEAGE": "1", **extra}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    return env


def _file_transport(path) -> dict[str, str]:
    return {
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(path),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }


def test_a_tracked_script_emits_start_and_complete(store_url, tmp_path):
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "job.py").write_text(SCRIPT)
    events_file = tmp_path / "events.jsonl"
    env = _env(store_url, tmp_path, **_file_transport(events_file))
    done = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert all(openlineage_errors(e) == [] for e in events)
    assert [d["name"] for d in events[1]["outputs"]] == [str(tmp_path / "out.txt")]
    # the same run ids as an export of the run
    ln.connect(store_url)
    from flowprov.interop import export

    exported = [json.loads(line) for line in export(ln.Run.filter().first(), "openlineage").splitlines()]
    assert {e["run"]["runId"] for e in exported} == {e["run"]["runId"] for e in events}


def test_a_snakemake_workflow_emits_every_run_and_a_dead_server_changes_nothing(store_url, tmp_path):
    root = make_workflow(tmp_path / "wf")
    events_file = tmp_path / "events.jsonl"
    done = subprocess.run(
        [SNAKEMAKE, "-c2"],
        cwd=root,
        env=_env(store_url, tmp_path, **_file_transport(events_file)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    ln.connect(store_url)
    n_runs = ln.Run.filter().count()
    assert sum(e["eventType"] == "START" for e in events) == n_runs
    assert sum(e["eventType"] == "COMPLETE" for e in events) == n_runs
    assert all(openlineage_errors(e) == [] for e in events)
    # a lineage server that does not answer: the workflow and its records are unchanged
    dead = make_workflow(tmp_path / "wf2")
    env = _env(store_url, tmp_path, OPENLINEAGE_URL="http://127.0.0.1:9")
    done = subprocess.run([SNAKEMAKE, "-c2"], cwd=dead, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("openlineage events are not sent") == 1
    assert ln.Run.filter().count() == 2 * n_runs
