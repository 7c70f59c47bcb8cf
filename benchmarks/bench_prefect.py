"""Prefect (issues 7, 21): flows of 5, 50 and 200 tasks with and without @tracked, same run.

Runs in a child process on a temporary Prefect server (started once). Each variant runs 3 times;
the medians of the flow call's wall time (time.perf_counter: what the caller waits, task runs
recorded included) and of the client's CPU time (time.process_time) are compared.
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

SIZES = [int(n) for n in sys.argv[1].split(",")]
ln.connect(sys.argv[2])

@task
def inc(x: int) -> int:
    return x + 1

def body(n: int) -> int:
    return sum(f.result() for f in inc.map(range(n)))

plain = flow(name="plain")(body)
tracked_flow = tracked(flow(name="tracked")(body))

def measure(fn, n):
    wall, cpu = [], []
    for _ in range(3):
        w, c = time.perf_counter(), time.process_time()
        fn(n)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu)}

with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness(server_startup_timeout=60):
    plain(2); tracked_flow(2)  # warm both
    print(json.dumps({n: {"plain": measure(plain, n), "tracked": measure(tracked_flow, n)} for n in SIZES}))
"""


def run(quick: bool = False) -> str:
    sizes = [5, 50] if quick else [5, 50, 200]
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
            [sys.executable, "-c", CHILD, ",".join(map(str, sizes)), str(Path(tmp) / "bench.db")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
    rows = []
    for n in sizes:
        ours, base = data[str(n)]["tracked"], data[str(n)]["plain"]
        for what, note in (("wall", "what the caller waits"), ("cpu", "client CPU time")):
            rows.append(
                [
                    f"{n}-task flow, {note}",
                    fmt_seconds(ours[what]),
                    fmt_seconds(base[what]),
                    f"{ours[what] / base[what]:.3f}",
                    f"{(ours[what] - base[what]) / n * 1e3:.2f} ms per task; baseline: the same flow without @tracked",
                ]
            )
    return table("Prefect flow overhead", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
