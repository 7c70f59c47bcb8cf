"""Nextflow trace ingest (issue 5): a generated trace, against pandas in the same run.

Baseline: `pandas.read_csv` of the same file + `DataFrame.to_sql` into a fresh SQLite database
(what a quick home-made importer does). The trace has a realistic mix: the default fields plus
process, tag, attempt, workdir and error_action; 90% COMPLETED, 5% CACHED, 4% FAILED (half of them
retried), 1% ABORTED; human-readable units. Peak RSS is the VmHWM of a child process that does nothing but the ingest.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fmt_seconds, table

FIELDS = [
    "task_id",
    "hash",
    "native_id",
    "process",
    "tag",
    "name",
    "status",
    "exit",
    "submit",
    "duration",
    "realtime",
    "%cpu",
    "peak_rss",
    "peak_vmem",
    "rchar",
    "wchar",
    "attempt",
    "workdir",
    "error_action",
]
PROCESSES = [
    "FASTQC",
    "TRIMGALORE",
    "STAR_ALIGN",
    "SAMTOOLS_SORT",
    "SALMON_QUANT",
    "MULTIQC",
    "PICARD_MARKDUPLICATES",
    "BEDTOOLS_GENOMECOV",
]


def generate_trace(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        fh.write("\t".join(FIELDS) + "\n")
        for i in range(1, n + 1):
            full = f"{rng.getrandbits(128):032x}"
            process = f"NFCORE_RNASEQ:RNASEQ:{rng.choice(PROCESSES)}"
            tag = f"sample_{i % 5000}"
            roll = rng.random()
            status, exit_code, action, attempt = "COMPLETED", "0", "-", "1"
            if roll > 0.99:
                status, exit_code = "ABORTED", "-"
            elif roll > 0.95:
                status, exit_code, action = "FAILED", "137", ("RETRY" if roll > 0.97 else "IGNORE")
            elif roll > 0.90:
                status = "CACHED"
            elif roll > 0.88:
                attempt = "2"
            submit = (
                f"2026-11-{1 + i // 100000:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}"
            )
            fh.write(
                "\t".join(
                    [
                        str(i),
                        f"{full[:2]}/{full[2:8]}",
                        str(100000 + i),
                        process,
                        tag,
                        f"{process} ({tag})",
                        status,
                        exit_code,
                        submit,
                        f"{rng.randint(1, 59)}m {rng.randint(0, 59)}s",
                        f"{rng.randint(1, 59)}m {rng.randint(0, 59)}s",
                        f"{rng.uniform(1, 800):.1f}%",
                        f"{rng.uniform(1, 900):.1f} MB",
                        f"{rng.uniform(1, 9):.1f} GB",
                        f"{rng.uniform(1, 900):.1f} MB",
                        f"{rng.randint(1, 900)} KB",
                        attempt,
                        f"/scratch/work/{full[:2]}/{full[2:]}",
                        action,
                    ]
                )
                + "\n"
            )


def ingest_time(trace: Path, db: Path) -> float:
    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all
    from flowprov.integrations.nextflow import ingest

    ln.connect(db)
    start = time.perf_counter()
    ingest(
        trace,
        session_id="0badc0de-0000-4000-8000-000000000000",
        run_name="bench_run",
        pipeline="nf-core/rnaseq",
        timezone="UTC",
    )
    elapsed = time.perf_counter() - start
    disconnect_all()
    return elapsed


def pandas_time(trace: Path, db: Path) -> float:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(trace, sep="\t")
    conn = sqlite3.connect(db)
    frame.to_sql("trace", conn, index=False)
    conn.commit()
    conn.close()
    return time.perf_counter() - start


PANDAS_PROCESS = """
import sqlite3, sys
import pandas as pd
frame = pd.read_csv(sys.argv[1], sep="\\t")
conn = sqlite3.connect(sys.argv[2])
frame.to_sql("trace", conn, index=False)
conn.commit()
"""


def process_times(trace: Path, tmp: Path) -> tuple[float, float]:
    """Whole processes, start to exit: `flowprov nextflow ingest` vs a pandas script."""
    ours = [sys.executable, "-m", "flowprov.cli", "nextflow", "ingest", str(trace), "--db", str(tmp / "cli.db")]
    ours += ["--session-id", "0badc0de-0000-4000-8000-000000000001", "--run-name", "bench_cli", "--timezone", "UTC"]
    start = time.perf_counter()
    subprocess.run(ours, check=True, capture_output=True)
    mid = time.perf_counter()
    subprocess.run([sys.executable, "-c", PANDAS_PROCESS, str(trace), str(tmp / "pdp.db")], check=True)
    return mid - start, time.perf_counter() - mid


# VmHWM of the child's own address space: ru_maxrss would include the parent's memory at fork.
PEAK_RSS_CHILD = """
import sys
sys.path.insert(0, {bench!r})
from bench_nextflow import ingest_time
from pathlib import Path
ingest_time(Path({trace!r}), Path({db!r}))
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_rss_mib(trace: Path, db: Path) -> float:
    code = PEAK_RSS_CHILD.format(bench=str(Path(__file__).parent), trace=str(trace), db=str(db))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def run(quick: bool = False) -> str:
    n = 10_000 if quick else 100_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trace = tmp / "trace.txt"
        generate_trace(trace, n)
        ours = ingest_time(trace, tmp / "fp.db")
        base = pandas_time(trace, tmp / "pd.db")
        rows.append(
            [
                f"ingest a {n:,}-task trace into SQLite",
                fmt_seconds(ours),
                fmt_seconds(base),
                f"{ours / base:.1f}",
                f"{n / ours:,.0f} tasks/s; baseline: pandas.read_csv + DataFrame.to_sql",
            ]
        )
        ours_p, base_p = process_times(trace, tmp)
        rows.append(
            [
                "the same, whole processes (`flowprov nextflow ingest` / a pandas script)",
                fmt_seconds(ours_p),
                fmt_seconds(base_p),
                f"{ours_p / base_p:.1f}",
                "start to exit, imports included",
            ]
        )
        big = 100_000 if quick else 1_000_000
        big_trace = tmp / "big.txt"
        generate_trace(big_trace, big)
        rss = peak_rss_mib(big_trace, tmp / "big.db")
        rows.append(
            [
                f"peak RSS while ingesting {big:,} tasks",
                f"{rss:.0f} MiB",
                "-",
                "-",
                "VmHWM of a child process that only ingests",
            ]
        )
    return table("Nextflow trace ingest", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
