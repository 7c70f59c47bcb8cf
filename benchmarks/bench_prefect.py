"""Prefect (issue 7): a 200-task flow with and without @tracked, client CPU time, same run.

Runs in a child process on a temporary Prefect server (started once). Each variant runs 3 times;
the medians of the client's CPU time (time.process_time) are compared, and the recording cost per
task is the difference divided by the number of tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import fmt_seconds, table

CHILD = r"""
import json, statistics, sys, time
from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness
import flowprov as ln
from flowprov.integrations.prefect import tracked

N = int(sys.argv[1])
ln.connect(sys.argv[2])

@task
def inc(x: int) -> int:
    return x + 1

def body(n: int) -> int:
    return sum(f.result() for f in inc.map(range(n)))

plain = flow(name="plain")(body)
tracked_flow = tracked(flow(name="tracked")(body))

def cpu(fn):
    times = []
    for _ in range(3):
        start = time.process_time()
        fn(N)
        times.append(time.process_time() - start)
    return statistics.median(times)

with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness(server_startup_timeout=60):
    plain(2); tracked_flow(2)  # warm both
    print(json.dumps({"plain": cpu(plain), "tracked": cpu(tracked_flow)}))
"""


def run(quick: bool = False) -> str:
    n = 50 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(Path(tmp) / "home"),
            "PREFECT_LOGGING_LEVEL": "ERROR",
        }
        env.pop("PREFECT_API_URL", None)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), str(Path(tmp) / "bench.db")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
    ours, base = data["tracked"], data["plain"]
    rows = [
        [
            f"{n}-task flow, client CPU time",
            fmt_seconds(ours),
            fmt_seconds(base),
            f"{ours / base:.3f}",
            f"{(ours - base) / n * 1e3:.2f} ms CPU per task recorded; baseline: the same flow without @tracked",
        ]
    ]
    return table("Prefect flow overhead", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
