"""Snakemake (issue 6): a trivial N-job workflow with and without flowprov, same machine, same run.

Variants: no recording (baseline), the Snakefile hooks, the logger plugin, both. Each variant
runs in a fresh copy of the workflow (every job runs); the wall time of the whole `snakemake`
process, median of 3 runs per variant, the variants interleaved.
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


def run(quick: bool = False, repeats: int = 3) -> str:
    """Median of `repeats` runs per variant, the variants interleaved so drift hits all alike."""
    n = 100 if quick else 1000
    times: dict[str, list[float]] = {label: [] for label, _, _ in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(repeats):
            workdir = root / f"repeat{r}"
            workdir.mkdir()
            for label, hooks, plugin in VARIANTS:
                times[label].append(run_variant(workdir, n, hooks, plugin, root / f"{label.replace(' ', '_')}.db"))
    base = statistics.median(times["without flowprov"])
    rows = []
    for label, _, _ in VARIANTS[1:]:
        ours = statistics.median(times[label])
        rows.append(
            [
                f"{n:,}-job workflow with {label} (median of {repeats})",
                fmt_seconds(ours),
                fmt_seconds(base),
                f"{ours / base:.3f}",
                f"{(ours - base) / n * 1e3:.2f} ms added per job; baseline: the same workflow without flowprov",
            ]
        )
    return table("Snakemake workflow overhead", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
