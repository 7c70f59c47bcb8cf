"""Start-up cost (issue 22): `import flowprov` and `flowprov --help`, against a bare interpreter.

Each is a fresh process, 7 times alternating with `python -c pass`; the medians of wall time and
of CPU time (user + system of the child, which a loaded machine inflates less) are shown, and the
import's heavy modules are checked: `import flowprov` must load none of SQLAlchemy, pandas,
Alembic, Prefect, Snakemake.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

from common import fmt_seconds, note_goal, table

HEAVY = ("sqlalchemy", "pandas", "alembic", "prefect", "snakemake", "numpy", "typer", "rich")
CHECK_HEAVY = f"import sys, flowprov; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"


def _timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one process."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def _medians(argv: list[str], bare: list[str], repeats: int) -> tuple[float, float, float, float]:
    ours, base = [], []
    for _ in range(repeats):
        ours.append(_timed(argv))
        base.append(_timed(bare))
    return (
        statistics.median(w for w, _ in ours),
        statistics.median(c for _, c in ours),
        statistics.median(w for w, _ in base),
        statistics.median(c for _, c in base),
    )


def run(quick: bool = False) -> str:
    repeats = 3 if quick else 7
    bare = [sys.executable, "-c", "pass"]
    cli = shutil.which("flowprov", path=os.path.dirname(sys.executable)) or "flowprov"
    workloads = [
        ("`import flowprov`", [sys.executable, "-c", "import flowprov"], 0.150),
        ("`flowprov --help`", [cli, "--help"], 0.200),
    ]
    rows = []
    for label, argv, aim in workloads:
        wall, cpu, bare_wall, bare_cpu = _medians(argv, bare, repeats)
        note_goal("start-up", f"{label} wall time", wall * 1e3, aim * 1e3, " ms")
        rows.append(
            [
                label,
                f"{fmt_seconds(wall)} (CPU {fmt_seconds(cpu)})",
                f"{fmt_seconds(bare_wall)} (CPU {fmt_seconds(bare_cpu)})",
                f"{wall / bare_wall:.2f}",
                f"aim <= {aim * 1e3:.0f} ms; baseline: `python -c pass`; median of {repeats} fresh processes",
            ]
        )
    loaded = subprocess.run([sys.executable, "-c", CHECK_HEAVY], capture_output=True, text=True, check=True)
    heavy = loaded.stdout.strip() or "none"
    rows.append(["heavy modules loaded by `import flowprov`", heavy, "-", "-", f"checked: {', '.join(HEAVY)}"])
    return table("Start-up: import and CLI help", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
