"""A whole run table into a DataFrame (issue 22): `Run.filter().df(limit=None)` against
`pandas.read_sql` of the same rows, in time and in peak memory.

Each side runs in a fresh child process that reads the same SQLite store once, so the peak
resident set (VmHWM) is that reader's alone; the parent reports time and memory ratios. The
store is built with plain INSERTs into flowprov's own schema (bench_queries.populate).

Usage: `python benchmarks/bench_reads.py [--quick]` (part of `make bench`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fmt_seconds, note_goal, table

HERE = Path(__file__).resolve().parent
READERS = {
    "flowprov": "import flowprov as ln; ln.connect(DB); frame = ln.Run.filter().df(limit=None)",
    "read_sql": (
        "import pandas as pd; from sqlalchemy import create_engine; "
        "frame = pd.read_sql('SELECT * FROM flowprov_run', create_engine('sqlite:///' + DB))"
    ),
}
CHILD = """
import json, sys, time
DB = sys.argv[1]
started = time.perf_counter()
{reader}
seconds = time.perf_counter() - started
peak_kib = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))
print(json.dumps({{"seconds": seconds, "rows": len(frame), "peak_mib": peak_kib / 1024}}))
"""


def read_in_child(reader: str, db: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(reader=READERS[reader]), str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_whole_table(tmp: Path, n_runs: int, repeats: int) -> list[list[str]]:
    from bench_queries import populate

    db = tmp / f"reads{n_runs}.db"
    started = time.perf_counter()
    populate(db, n_runs)
    built = time.perf_counter() - started
    results: dict[str, list[dict[str, float]]] = {name: [] for name in READERS}
    for _ in range(repeats):
        for name in READERS:  # alternate, so both see the same machine load
            results[name].append(read_in_child(name, db))
    ours, base = (
        {k: statistics.median(r[k] for r in results[name]) for k in ("seconds", "peak_mib", "rows")} for name in READERS
    )
    label = f"`Run.filter().df(limit=None)` of {int(ours['rows']):,} runs (SQLite, fresh process)"
    goal = "a whole run table into a DataFrame, flowprov / pandas.read_sql"
    note_goal(goal, f"{n_runs:,} runs: time", ours["seconds"] / base["seconds"], 2.0)
    note_goal(goal, f"{n_runs:,} runs: peak memory", ours["peak_mib"] / base["peak_mib"], 2.0)
    return [
        [
            label + ": time",
            fmt_seconds(ours["seconds"]),
            fmt_seconds(base["seconds"]),
            f"{ours['seconds'] / base['seconds']:.2f}",
            f"baseline: pandas.read_sql of the same rows; median of {repeats} (store built in {built:.0f} s)",
        ],
        [
            label + ": peak memory",
            f"{ours['peak_mib']:,.0f} MiB",
            f"{base['peak_mib']:,.0f} MiB",
            f"{ours['peak_mib'] / base['peak_mib']:.2f}",
            "peak resident set (VmHWM) of the reading process, imports included",
        ],
    ]


def run(quick: bool = False) -> str:
    with tempfile.TemporaryDirectory(prefix="flowprov-reads-") as tmp:
        rows = bench_whole_table(Path(tmp), 20_000 if quick else 1_000_000, 1 if quick else 3)
    return table(
        "A whole run table into a DataFrame (aim: <= 2x pandas.read_sql in time and memory)",
        ["workload", "flowprov", "baseline", "ratio", "note"],
        rows,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print(run(quick="--quick" in sys.argv))
