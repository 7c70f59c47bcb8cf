"""`make bench` (`make bench QUICK=1` for small sizes): run every benchmark and write RESULTS.md.

Each workload prints its time next to a baseline measured in the same run on the same machine, and
the ratio between them; absolute times are context only (machines here are noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_nextflow  # noqa: E402
import bench_prefect  # noqa: E402
import bench_queries  # noqa: E402
import bench_records  # noqa: E402
import bench_snakemake  # noqa: E402
import bench_tracking  # noqa: E402
from common import fmt_seconds, table  # noqa: E402


def records_table(quick: bool) -> str:
    n = 1_000 if quick else 10_000
    rows = []
    for r in bench_records.run(n):
        rows.append([
            r["workload"], fmt_seconds(r["flowprov_s"]), fmt_seconds(r["baseline_s"]), f"{r['ratio_vs_raw_sqlite3']:.0f}",
            f"{r['pairs_per_s']:,.0f} pairs/s = {r['x_lamindb_reference_rate']:.1f}x lamindb 2.12's rate (measured elsewhere)",
        ])
    return table("Creating records (SQLite)", ["workload", "flowprov", "baseline (raw sqlite3)", "ratio", "note"], rows)


def machine() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB memory"
    except (OSError, StopIteration):
        pass
    import sqlalchemy

    return f"{os.cpu_count()} cores{mem}, {platform.platform()}, Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about two minutes); results go to .work/RESULTS-quick.md")
    parser.add_argument("--output", type=Path, default=None, help="where to write the results (default: RESULTS.md; quick runs: .work/RESULTS-quick.md)")
    args = parser.parse_args()
    if args.output is None:
        args.output = HERE / ".work" / "RESULTS-quick.md" if args.quick else HERE / "RESULTS.md"
        args.output.parent.mkdir(exist_ok=True)
    os.environ.setdefault("FLOWPROV_HASH_CACHE", str(HERE / ".work" / "hash-cache.db"))
    start = time.perf_counter()
    sections = [records_table(args.quick), bench_queries.run(args.quick), bench_tracking.run(args.quick), bench_nextflow.run(args.quick), bench_snakemake.run(args.quick), bench_prefect.run(args.quick)]
    elapsed = time.perf_counter() - start
    command = "make bench QUICK=1" if args.quick else "make bench"
    header = (
        f"# Benchmark results\n\nDate: {dt.date.today().isoformat()}. Machine: {machine()}.\n"
        f"Command: `{command}` (took {elapsed:.0f} s). Ratio = flowprov / baseline; lower is better.\n\n"
    )
    text = header + "\n".join(sections)
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
