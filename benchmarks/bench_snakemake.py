"""Snakemake (issue 6): a trivial N-job workflow with and without flowprov, same machine, same run.

Variants: no recording (baseline), the Snakefile hooks, the logger plugin. Each variant runs in a
fresh copy of the workflow (every job runs), wall time of the whole `snakemake` process.
"""

from __future__ import annotations

import os
import shutil
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
    args = [str(Path(sys.executable).parent / "snakemake"), "-c2", "--quiet"] + (["--logger", "flowprov"] if plugin else [])
    env = {**os.environ, "FLOWPROV_DB": str(db)}
    start = time.perf_counter()
    subprocess.run(args, cwd=work, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(work)
    return elapsed


def run(quick: bool = False) -> str:
    n = 100 if quick else 1000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = run_variant(root, n, False, False, root / "unused.db")
        for label, hooks, plugin in (("hooks", True, False), ("logger plugin", False, True), ("hooks + plugin", True, True)):
            ours = run_variant(root, n, hooks, plugin, root / f"{label.replace(' ', '_')}.db")
            rows.append([f"{n:,}-job workflow with {label}", fmt_seconds(ours), fmt_seconds(base), f"{ours / base:.3f}",
                         f"{(ours - base) / n * 1e3:.2f} ms added per job; baseline: the same workflow without flowprov"])
    return table("Snakemake workflow overhead", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
