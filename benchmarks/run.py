"""`make bench` / `make bench-adapters` (add QUICK=1 for small sizes): run a suite, update RESULTS.md.

Suites:
- `main` (`make bench`): flowprov side by side with lamindb and MLflow (bench_peers), then
  flowprov's own queries at scale, tracking/hashing costs and `flowprov.diff` of two 1,000-job
  workflow runs against raw baselines.
- `adapters` (`make bench-adapters`): what recording adds to Nextflow ingest (and live weblog recording), Snakemake workflows
  and Prefect flows, against the same work without flowprov.

Each workload prints its time next to a baseline or peer measured in the same run on the same
machine, and the ratio between them; absolute times are context only (machines here are noisy).
RESULTS.md holds one block per suite; running a suite rewrites its own block and keeps the other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

SUITES = {
    "main": ("make bench", "flowprov beside lamindb and MLflow; queries, lineage, hashing and UI pages at scale"),
    "adapters": ("make bench-adapters", "what recording adds to Nextflow, Snakemake and Prefect"),
}


def machine() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB memory"
    except (OSError, StopIteration):
        pass
    import sqlalchemy

    return f"{os.cpu_count()} cores{mem}, {platform.platform()}, Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}"


def run_suite(suite: str, quick: bool, install: bool) -> list[str]:
    if suite == "main":
        import bench_diff
        import bench_import
        import bench_peers
        import bench_queries
        import bench_reads
        import bench_saves
        import bench_tracking
        import bench_ui

        side_by_side, _ = bench_peers.run(quick, install=install)
        return [
            side_by_side,
            "**flowprov at scale, against raw baselines in the same run**\n",
            bench_saves.run(quick),
            bench_import.run(quick),
            bench_queries.run(quick),
            bench_reads.run(quick),
            bench_tracking.run(quick),
            bench_diff.run(quick),
            bench_ui.run(quick),
        ]
    import bench_nextflow
    import bench_nextflow_weblog
    import bench_prefect
    import bench_snakemake

    return [
        bench_nextflow.run(quick),
        bench_nextflow_weblog.run(quick),
        bench_snakemake.run(quick),
        bench_prefect.run(quick),
    ]


def replace_block(text: str, suite: str, block: str) -> str:
    """Put `block` between this suite's markers in RESULTS.md, keeping the other suites' blocks."""
    begin, end = f"<!-- begin {suite} -->", f"<!-- end {suite} -->"
    new = f"{begin}\n{block.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: new, text)
    blocks = {
        name: re.search(re.escape(f"<!-- begin {name} -->") + ".*?" + re.escape(f"<!-- end {name} -->"), text, re.S)
        for name in SUITES
    }
    kept = {name: m.group(0) for name, m in blocks.items() if m}
    kept[suite] = new
    return "# Benchmark results\n\n" + "\n\n".join(kept[name] for name in SUITES if name in kept) + "\n"


def load() -> str:
    """The load average while the suite ran: numbers from a shared, busy machine say so."""
    try:
        return "load average " + " / ".join(open("/proc/loadavg").read().split()[:3]) + " (1 / 5 / 15 min)"
    except OSError:
        return "load average unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), default="main", help="which suite to run (default: main)")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes; results go to benchmarks/.work/RESULTS-quick.md"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="skip lamindb/MLflow when their environments are not installed yet"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the results file (default: RESULTS.md; quick runs: .work/RESULTS-quick.md)",
    )
    args = parser.parse_args()
    if args.output is None:
        args.output = HERE / ".work" / "RESULTS-quick.md" if args.quick else HERE / "RESULTS.md"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLOWPROV_HASH_CACHE", str(HERE / ".work" / "hash-cache.db"))
    load_before = load()
    start = time.perf_counter()
    sections = run_suite(args.suite, args.quick, install=not args.no_install)
    if common.GOALS:
        sections.append(common.goals_table())
    elapsed = time.perf_counter() - start
    load_after = load()
    command, what = SUITES[args.suite]
    if args.quick:
        command += " QUICK=1"
    header = (
        f"## Suite `{args.suite}`: {what}\n\nDate: {dt.date.today().isoformat()}. Machine: {machine()}.\n"
        f"Command: `{command}` (took {elapsed:.0f} s). Ratio = flowprov / baseline or peer; lower is better.\n"
        f"Machine load: {load_before} at the start, {load_after} at the end ({os.cpu_count()} cores; other jobs shared "
        "the machine when the load is above that).\n"
    )
    block = header + "\n" + "\n".join(sections)
    print(block)
    previous = args.output.read_text() if args.output.exists() else ""
    args.output.write_text(replace_block(previous, args.suite, block))


if __name__ == "__main__":
    main()
