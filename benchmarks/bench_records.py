"""Create and save Transform+Run pairs one by one and in bulk (issue 2's first benchmark).

Baseline, measured in the same run: plain `sqlite3` inserting the same two rows per pair (one
transaction per pair, and one `executemany` transaction for bulk) — the floor any SQLite-backed
tool sits on. Reference numbers measured elsewhere for context: lamindb 2.12 ~23 s per 1,000 pairs
one by one (~43/s), ~12 s per 9,000 in bulk (~750/s).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

LAMINDB_ONE_BY_ONE_PER_S = 1000 / 23
LAMINDB_BULK_PER_S = 9000 / 12


def flowprov_one_by_one(db: Path, n: int) -> float:
    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    ln.connect(db)
    start = time.perf_counter()
    for i in range(n):
        t = ln.Transform(key=f"bench/pipeline-{i}", type="pipeline").save()
        ln.Run(t, reference=f"ref-{i}", reference_type="bench", params={"a": i, "b": "x", "c": 0.5, "d": True, "e": [1, 2]}).save()
    elapsed = time.perf_counter() - start
    disconnect_all()
    return elapsed


def flowprov_bulk(db: Path, n: int) -> float:
    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    ln.connect(db)
    start = time.perf_counter()
    transforms = [ln.Transform(key=f"bench/pipeline-{i}", type="pipeline") for i in range(n)]
    transforms = ln.save(transforms)
    runs = [ln.Run(t, reference=f"ref-{i}", reference_type="bench", params={"a": i, "b": "x", "c": 0.5, "d": True, "e": [1, 2]}) for i, t in enumerate(transforms)]
    ln.save(runs)
    elapsed = time.perf_counter() - start
    disconnect_all()
    return elapsed


def _raw_db(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, uid TEXT, key TEXT, type TEXT, created_at TEXT)")
    conn.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, uid TEXT, reference TEXT, reference_type TEXT, params TEXT, transform_id INTEGER REFERENCES t(id), started_at TEXT)")
    return conn


def raw_one_by_one(db: Path, n: int) -> float:
    conn = _raw_db(db)
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        tid = conn.execute("INSERT INTO t (uid, key, type, created_at) VALUES (?, ?, 'pipeline', datetime('now'))", (f"u{i}", f"bench/pipeline-{i}")).lastrowid
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO r (uid, reference, reference_type, params, transform_id, started_at) VALUES (?, ?, 'bench', ?, ?, datetime('now'))", (f"r{i}", f"ref-{i}", '{"a": 1}', tid))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def raw_bulk(db: Path, n: int) -> float:
    conn = _raw_db(db)
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t (id, uid, key, type, created_at) VALUES (?, ?, ?, 'pipeline', datetime('now'))", [(i + 1, f"u{i}", f"bench/pipeline-{i}") for i in range(n)])
    conn.executemany("INSERT INTO r (uid, reference, reference_type, params, transform_id, started_at) VALUES (?, ?, 'bench', ?, ?, datetime('now'))", [(f"r{i}", f"ref-{i}", '{"a": 1}', i + 1) for i in range(n)])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def run(n: int = 10_000) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, ours, base, lamindb_rate in (
            ("one by one", flowprov_one_by_one, raw_one_by_one, LAMINDB_ONE_BY_ONE_PER_S),
            ("bulk (ln.save)", flowprov_bulk, raw_bulk, LAMINDB_BULK_PER_S),
        ):
            t_ours = ours(tmp / f"fp-{label[:4]}.db", n)
            t_base = base(tmp / f"raw-{label[:4]}.db", n)
            rate = n / t_ours
            rows.append({
                "workload": f"{n:,} Transform+Run pairs, {label}",
                "flowprov_s": t_ours, "pairs_per_s": rate, "baseline_s": t_base,
                "ratio_vs_raw_sqlite3": t_ours / t_base, "x_lamindb_reference_rate": rate / lamindb_rate,
            })
    return rows


if __name__ == "__main__":
    import sys

    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000):
        print(row)
