"""Snakemake (issues 6, 22): a trivial N-job workflow with and without flowprov, same machine, same run.

Variants: no recording (baseline), the Snakefile hooks, the logger plugin, both. Each variant
runs in a fresh copy of the workflow (every job runs); the wall time of the whole `snakemake`
process, median of 3 runs per variant, sizes and variants interleaved. The time flowprov adds is
fitted as a fixed cost per execution plus a cost per job; and what the Snakefile's import line
costs in a job process is measured against a bare interpreter.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fmt_seconds, table

HOOKS = """from flowprov.integrations import snakemake as flowprov_snakemake
onstart:   flowprov_snakemake.onstart(workflow, log)
onsuccess: flowprov_snakemake.onsuccess(workflow, log)
onerror:   flowprov_snakemake.onerror(workflow, log)
"""
RULES = """
N = {n}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule one:
    output: "out/{{i}}.txt"
    shell: "echo {{wildcards.i}} > {{output}}"
"""


def run_variant(root: Path, n: int, hooks: bool, plugin: bool, db: Path) -> float:
    work = root / f"wf-{hooks}-{plugin}"
    work.mkdir()
    (work / "Snakefile").write_text((HOOKS if hooks else "") + RULES.format(n=n))
    args = [str(Path(sys.executable).parent / "snakemake"), "-c2", "--quiet"] + (
        ["--logger", "flowprov"] if plugin else []
    )
    env = {**os.environ, "FLOWPROV_DB": str(db)}
    start = time.perf_counter()
    subprocess.run(args, cwd=work, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(work)
    return elapsed


VARIANTS = (
    ("without flowprov", False, False),
    ("hooks", True, False),
    ("logger plugin", False, True),
    ("hooks + plugin", True, True),
)


def _medians(sizes: tuple[int, ...], repeats: int) -> dict[tuple[str, int], float]:
    """(variant, jobs) -> median wall time; sizes and variants interleaved so drift hits all alike."""
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(repeats):
            for n in sizes:
                workdir = root / f"repeat{r}-{n}"
                workdir.mkdir()
                for label, hooks, plugin in VARIANTS:
                    db = root / f"{label.replace(' ', '_')}.db"
                    times.setdefault((label, n), []).append(run_variant(workdir, n, hooks, plugin, db))
    return {key: statistics.median(values) for key, values in times.items()}


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares `added = fixed + per_job * jobs`: (fixed seconds, seconds per job)."""
    mean_n = statistics.fmean(n for n, _ in points)
    mean_t = statistics.fmean(t for _, t in points)
    spread = sum((n - mean_n) ** 2 for n, _ in points)
    per_job = sum((n - mean_n) * (t - mean_t) for n, t in points) / spread
    return mean_t - per_job * mean_n, per_job


def job_process_import(repeats: int = 7) -> tuple[float, float]:
    """What the Snakefile's `from flowprov.integrations import snakemake` line costs in a fresh
    Python process (each job process parses the Snakefile): (with the line, bare interpreter)."""

    def wall(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    ours = [wall("from flowprov.integrations import snakemake") for _ in range(repeats)]
    bare = [wall("pass") for _ in range(repeats)]
    return statistics.median(ours), statistics.median(bare)


def run(quick: bool = False, repeats: int = 3) -> str:
    """Wall time per variant and size; the added time split into a fixed and a per-job cost."""
    sizes = (5, 50) if quick else (5, 50, 1000)
    medians = _medians(sizes, repeats)
    rows = []
    for label, _, _ in VARIANTS[1:]:
        added = []
        for n in sizes:
            ours, base = medians[(label, n)], medians[("without flowprov", n)]
            added.append((n, ours - base))
            rows.append(
                [
                    f"{n:,}-job workflow with {label} (median of {repeats})",
                    fmt_seconds(ours),
                    fmt_seconds(base),
                    f"{ours / base:.3f}",
                    "baseline: the same workflow without flowprov",
                ]
            )
        fixed, per_job = _fit(added)
        rows.append(
            [
                f"{label}: added cost, fitted over {', '.join(map(str, sizes))} jobs",
                f"{fixed * 1e3:.0f} ms + {per_job * 1e3:.2f} ms/job",
                "-",
                "-",
                "aim: fixed <= 100 ms, <= 0.5 ms per job (issue 22)",
            ]
        )
    ours, bare = job_process_import()
    rows.append(
        [
            "the Snakefile's flowprov line in a job process (fresh python)",
            fmt_seconds(ours),
            fmt_seconds(bare),
            f"{ours / bare:.3f}",
            "baseline: `python -c pass`; the line loads no store layer",
        ]
    )
    return table("Snakemake workflow overhead", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
