"""`flowprov.diff` of two 1,000-job workflow runs (issue 16), against baselines in the same run.

Both runs are written through the Recorder (the adapters' path) with real files: each job reads
`raw/<i>.txt` and writes `counts/<i>.txt`, a summary job reads all counts. Run B differs in 10
input files and in a param of 10 other jobs. Baselines:
- the floor: plain `sqlite3` reading the same rows (both runs' jobs, their inputs and outputs);
- one query per job: the same data read through each job's `input_artifacts` / `output_artifacts`,
  what a diff without bulk loading would cost.
The SQL statements one diff sends are counted (it must not grow with the number of jobs).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from common import fmt_seconds, median_time, table

ROWS_SQL = (
    "SELECT id, name, params FROM flowprov_run WHERE initiated_by_run_id = ?",
    "SELECT l.run_id, a.* FROM flowprov_run_input_artifact l JOIN flowprov_artifact a ON a.id = l.artifact_id"
    " JOIN flowprov_run r ON r.id = l.run_id WHERE r.initiated_by_run_id = ?",
    "SELECT a.* FROM flowprov_artifact a JOIN flowprov_run r ON r.id = a.run_id WHERE r.initiated_by_run_id = ?",
)


def record_workflow(root: Path, n_jobs: int, reference: str, changed: set[int]) -> None:
    from flowprov.core.tracking.recorder import Recorder, TransformSpec

    (root / "raw").mkdir(parents=True, exist_ok=True)
    (root / "counts").mkdir(exist_ok=True)
    rec = Recorder()
    wf = rec.open_run(
        TransformSpec(key="Snakefile", name="Snakefile"),
        reference=reference,
        reference_type="snakemake_workflow_id",
        params={"samples": n_jobs},
    )
    step = TransformSpec(key="Snakefile#count", type="step", source_code="wc -l {input} > {output}")
    for i in range(n_jobs):
        raw, out = root / "raw" / f"{i}.txt", root / "counts" / f"{i}.txt"
        raw.write_text(f"sample {i}\n" + ("edited\n" if i in changed else ""))
        out.write_text(f"{i} {2 if i in changed else 1}\n")
        job = rec.open_run(
            step,
            reference=f"{reference}:{i}",
            reference_type="snakemake_job_id",
            name=f"count (sample={i})",
            parent=wf,
            params={"wildcards": {"sample": str(i)}, "factor": 3 if i + 1 in changed else 2},
        )
        job.add_input(raw)
        job.add_output(out)
        rec.close_run(job, "completed")
    summary = rec.open_run(
        TransformSpec(key="Snakefile#summary", type="step", source_code="cat {input} > {output}"),
        reference=f"{reference}:summary",
        reference_type="snakemake_job_id",
        name="summary",
        parent=wf,
    )
    for i in range(n_jobs):
        summary.add_input(root / "counts" / f"{i}.txt")
    (root / "summary.tsv").write_text(f"{reference}\n")
    summary.add_output(root / "summary.tsv")
    rec.close_run(summary, "completed")
    rec.close_run(wf, "completed")
    rec.flush()


def count_statements(fn) -> int:
    from sqlalchemy import event

    import flowprov as ln

    engine = ln.current_store().engine
    seen = []

    def count(*_args: object) -> None:
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def bench(tmp: Path, n_jobs: int) -> list[list[str]]:
    import flowprov as ln

    db = tmp / f"diff-{n_jobs}.db"
    ln.connect(db)
    changed = set(range(0, n_jobs, n_jobs // 10))
    record_workflow(tmp / "a", n_jobs, "wf-a", set())
    record_workflow(tmp / "b", n_jobs, "wf-b", changed)
    a, b = ln.Run.get(reference="wf-a"), ln.Run.get(reference="wf-b")

    def run_diff() -> None:
        ln.current_store().session.expunge_all()  # nothing cached between repeats
        d = ln.diff(a.uid, b.uid)
        assert len(d.why) == len(changed) + 1

    run_diff()  # warm-up
    t_diff = median_time(run_diff, 5)
    statements = count_statements(run_diff)
    conn = sqlite3.connect(db)

    def floor() -> None:
        for run_id in (a.id, b.id):
            for sql in ROWS_SQL:
                conn.execute(sql, (run_id,)).fetchall()

    t_floor = median_time(floor, 5)

    def per_job() -> None:
        ln.current_store().session.expunge_all()
        for run in (a, b):
            for child in ln.Run.filter(initiated_by_run_id=run.id):
                child.input_artifacts.all().list()
                child.output_artifacts.all().list()

    t_per_job = median_time(per_job, 3)
    conn.close()
    jobs = f"two workflow runs of {n_jobs:,} jobs"
    return [
        [
            f"`flowprov.diff` of {jobs} (SQLite)",
            fmt_seconds(t_diff),
            fmt_seconds(t_floor),
            f"{t_diff / t_floor:.1f}",
            f"floor: plain sqlite3 reading the same rows; the diff sent {statements} SQL statements",
        ],
        [
            f"`flowprov.diff` of {jobs}, vs one query per job",
            fmt_seconds(t_diff),
            fmt_seconds(t_per_job),
            f"{t_diff / t_per_job:.3f}",
            "baseline: each job's input_artifacts / output_artifacts read on their own",
        ],
    ]


def run(quick: bool = False) -> str:
    headers = ["workload", "flowprov", "baseline", "ratio", "note"]
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench(Path(tmp), 100 if quick else 1000)
    return table("Diff of two workflow runs (SQLite)", headers, rows)


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv))
