"""Queries over large run tables and lineage walks (issue 3), against baselines in the same run.

Data is generated with plain INSERTs straight into flowprov's tables (the store schema is made by
flowprov itself), so 1M runs take seconds to create. Baselines:
- lookup by reference: the same SELECT through the `sqlite3` module (the floor);
- runs -> DataFrame: `pandas.read_sql` of the same rows through SQLAlchemy;
- lineage: a walk with one query per level (what lamindb 2.12 does; ~38 ms for 10 levels there).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
import time
from pathlib import Path

from common import fmt_seconds, median_time, table


def populate(db: Path, n_runs: int) -> None:
    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    ln.connect(db)
    ln.Transform(name="bench").save()
    disconnect_all()
    conn = sqlite3.connect(db)
    now = dt.datetime(2026, 1, 1).isoformat(sep=" ")
    batch = 100_000
    for start in range(0, n_runs, batch):
        rows = [
            (
                f"r{i:015d}",
                f"run {i}",
                now,
                f"ref-{i}",
                "bench_a" if i % 10 else "bench_b",
                now,
                f'{{"lr": {i % 100 / 100}}}',
                0,
                1,
                1,
                1,
            )
            for i in range(start, min(start + batch, n_runs))
        ]
        conn.executemany(
            "INSERT INTO flowprov_run (uid, name, started_at, reference, reference_type, created_at, "
            "params, _status_code, transform_id, created_by_id, space_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
    conn.execute(
        "INSERT OR IGNORE INTO flowprov_user (id, uid, handle, created_at) VALUES (1, 'benchusr', 'bench', ?)", (now,)
    )
    conn.commit()
    conn.close()


def bench_lookup_and_df(tmp: Path, n_runs: int, df_rows: int) -> list[list[str]]:
    import pandas as pd

    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    db = tmp / f"q{n_runs}.db"
    t0 = time.perf_counter()
    populate(db, n_runs)
    build = time.perf_counter() - t0
    ln.connect(db)
    target = f"ref-{n_runs // 2}"
    ours = median_time(lambda: ln.Run.filter(reference=target).one(), 50)
    raw = sqlite3.connect(db)
    base = median_time(lambda: raw.execute("SELECT * FROM flowprov_run WHERE reference = ?", (target,)).fetchall(), 50)
    rows = [
        [
            f"`Run.filter(reference=...)` one run, {n_runs:,} runs",
            fmt_seconds(ours),
            fmt_seconds(base),
            f"{ours / base:.1f}",
            f"(data built in {build:.1f} s)",
        ]
    ]
    # a DataFrame of df_rows runs: the bench_b rows are every 10th run
    rt = "bench_b"
    qs = ln.Run.filter(reference_type=rt)
    if n_runs // 10 >= df_rows:
        qs = qs[:df_rows]
    ours_df = median_time(lambda: qs.df(limit=None), 3)
    engine = ln.current_store().engine
    sql = f"SELECT * FROM flowprov_run WHERE reference_type = '{rt}' LIMIT {df_rows}"
    base_df = median_time(lambda: pd.read_sql(sql, engine), 3)
    n = len(qs.df(limit=None))
    rows.append(
        [
            f"`Run.filter(reference_type=...).df(limit=None)`, {n:,} rows of {n_runs:,}",
            fmt_seconds(ours_df),
            fmt_seconds(base_df),
            f"{ours_df / base_df:.2f}",
            "baseline: pandas.read_sql",
        ]
    )
    if n_runs <= 10_000:
        rows += bench_param_query(raw, n_runs)
    raw.close()
    disconnect_all()
    return rows


def bench_param_query(raw: sqlite3.Connection, n_runs: int) -> list[list[str]]:
    """Runs by a param value -> DataFrame, against the same SQL through sqlite3 alone (an index
    lookup in the param side table of schema 0004), and against the JSON scan of every run that
    the same filter was before that table (`lookups.USE_JSON_INDEX = False`)."""
    import flowprov as ln
    from flowprov.core.query import lookups

    def sql_of(qs: ln.QuerySet) -> tuple[str, list]:
        compiled = qs.statement().compile(ln.current_store().engine)
        return str(compiled), [compiled.params[name] for name in compiled.positiontup or []]

    qs = ln.Run.filter(params__lr=0.03)
    ours = median_time(lambda: qs.df(limit=None), 5)
    sql, params = sql_of(qs)
    base = median_time(lambda: raw.execute(sql, params).fetchall(), 5)
    lookups.USE_JSON_INDEX = False
    try:
        scan_qs = ln.Run.filter(params__lr=0.03)
        scan = median_time(lambda: scan_qs.df(limit=None), 5)
        scan_sql, scan_params = sql_of(scan_qs)
        scan_raw = median_time(lambda: raw.execute(scan_sql, scan_params).fetchall(), 5)
    finally:
        lookups.USE_JSON_INDEX = True
    found = len(qs.df(limit=None))
    label = f"`Run.filter(params__lr=...).df(limit=None)`, {found:,} rows of {n_runs:,}"
    return [
        [
            label,
            fmt_seconds(ours),
            fmt_seconds(base),
            f"{ours / base:.2f}",
            "baseline: the same SQL (the param index) through sqlite3, rows fetched",
        ],
        [
            label + ", vs the JSON scan",
            fmt_seconds(ours),
            fmt_seconds(scan),
            f"{ours / scan:.2f}",
            f"baseline: the same filter reading every run's JSON (no param index; {fmt_seconds(scan_raw)} of it in sqlite3)",
        ],
    ]


def bench_lineage(tmp: Path, depths: list[int]) -> list[list[str]]:
    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all
    from flowprov.lineage import upstream

    rows = []
    for depth in depths:
        db = tmp / f"lin{depth}.db"
        ln.connect(db)
        step = ln.Transform(name="step", type="step").save()
        runs = ln.save([ln.Run(step, name=f"s{i}") for i in range(depth)])
        arts = []
        for i in range(depth + 1):
            p = tmp / f"lin{depth}_{i}.txt"
            p.write_text(f"{depth}:{i}")
            arts.append(ln.Artifact(p, run=runs[i - 1] if i else False))
        arts = ln.save(arts)
        from sqlalchemy import insert

        from flowprov.core.registry.links import run_input_artifact

        with ln.current_store().transaction() as session:
            session.execute(
                insert(run_input_artifact), [{"run_id": runs[i].id, "artifact_id": arts[i].id} for i in range(depth)]
            )
        last = arts[-1]
        ours = median_time(lambda last=last: upstream(last), 3)
        conn = sqlite3.connect(db)

        def per_level_walk(last=last, conn=conn):
            frontier, seen = [last.id], set()
            while frontier:
                placeholders = ",".join("?" * len(frontier))
                run_ids = [
                    r
                    for (r,) in conn.execute(
                        f"SELECT run_id FROM flowprov_artifact WHERE id IN ({placeholders}) AND run_id IS NOT NULL",
                        frontier,
                    )
                ]
                if not run_ids:
                    break
                ph = ",".join("?" * len(run_ids))
                nxt = [
                    a
                    for (a,) in conn.execute(
                        f"SELECT artifact_id FROM flowprov_run_input_artifact WHERE run_id IN ({ph})", run_ids
                    )
                    if a not in seen
                ]
                seen.update(nxt)
                frontier = nxt

        base = median_time(per_level_walk, 3)
        conn.close()
        rows.append(
            [
                f"upstream lineage, {depth} steps deep",
                fmt_seconds(ours),
                fmt_seconds(base),
                f"{ours / base:.2f}",
                "baseline: one query per level (lamindb's way) over sqlite3",
            ]
        )
        disconnect_all()
    return rows


def run(quick: bool = False) -> str:
    headers = ["workload", "flowprov", "baseline", "ratio", "note"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in [10_000] if quick else [10_000, 100_000, 1_000_000]:
            rows += bench_lookup_and_df(tmp, n, 10_000 if n >= 100_000 else 1_000)
        rows += bench_lineage(tmp, [10, 100] if quick else [10, 1000])
    return table("Queries and lineage (SQLite)", headers, rows)


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv))
