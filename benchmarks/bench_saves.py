"""Runs saved one by one on PostgreSQL (issue 22): flowprov's `Run(...).save()` against raw psycopg
inserting the same rows into the same flowprov table (same indexes), one transaction per run.

The baseline is the cheapest raw way: one autocommit `INSERT ... RETURNING id` per run (one round
trip, one commit), so commit latency, which dominates on PostgreSQL, is the same on both sides.
The two alternate in one process (3 rounds, the median of each side), each into a fresh schema.
Needs the PostgreSQL server of the tests (FLOWPROV_BENCH_PG, default 127.0.0.1:5432, db `test`);
without one the row says so.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from common import fmt_seconds, note_goal, table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
PG_SERVER = os.environ.get("FLOWPROV_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
RAW_INSERT = (
    "INSERT INTO flowprov_run (uid, reference, reference_type, params, _status_code, transform_id, "
    "created_by_id, space_id, created_at, started_at) VALUES (%s, %s, %s, %s, -1, %s, %s, 1, %s, %s) RETURNING id"
)


def _schema_url(schema: str) -> str:
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


def _server(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(sql)


def _flowprov_round(n: int) -> float:
    from peer_base import REFERENCE_TYPE, run_params, run_reference

    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    schema = "bench_" + uuid.uuid4().hex[:12]
    _server(f'CREATE SCHEMA "{schema}"')
    try:
        ln.connect(_schema_url(schema))
        transform = ln.Transform(key="bench/pipeline", type="pipeline").save()
        ln.Run(transform).save()  # the user row exists, as for the raw side
        started = time.perf_counter()
        for i in range(n):
            ln.Run(transform, reference=run_reference(i), reference_type=REFERENCE_TYPE, params=run_params(i)).save()
        return time.perf_counter() - started
    finally:
        disconnect_all()
        _server(f'DROP SCHEMA "{schema}" CASCADE')


def _raw_round(n: int) -> float:
    import datetime as dt

    import psycopg
    from peer_base import REFERENCE_TYPE, run_params, run_reference

    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    schema = "bench_" + uuid.uuid4().hex[:12]
    _server(f'CREATE SCHEMA "{schema}"')
    try:
        ln.connect(_schema_url(schema))  # flowprov makes the schema: the same table and indexes
        transform = ln.Transform(key="bench/pipeline", type="pipeline").save()
        user_id = ln.Run(transform).save().created_by_id
        disconnect_all()
        with psycopg.connect(PG_SERVER, autocommit=True, options=f"-csearch_path={schema}") as conn:
            started = time.perf_counter()
            for i in range(n):
                now = dt.datetime.now(dt.UTC)
                params = json.dumps(run_params(i))
                row = (uuid.uuid4().hex[:16], run_reference(i), REFERENCE_TYPE, params, transform.id, user_id, now, now)
                conn.execute(RAW_INSERT, row).fetchone()
            return time.perf_counter() - started
    finally:
        disconnect_all()
        _server(f'DROP SCHEMA "{schema}" CASCADE')


def run(quick: bool = False) -> str:
    n, rounds = (100, 1) if quick else (1_000, 3)
    title = "Runs saved one by one on PostgreSQL (aim: <= 1.2x raw psycopg)"
    headers = ["workload", "flowprov", "raw psycopg", "ratio", "note"]
    try:
        _server("SELECT 1")
    except Exception as exc:  # no server: say so instead of failing the suite
        return table(title, headers, [[f"{n:,} runs, one by one", "-", "-", "-", f"no PostgreSQL: {exc}"[:200]]])
    ours, raw = [], []
    for _ in range(rounds):
        ours.append(_flowprov_round(n))
        raw.append(_raw_round(n))
    ratio = statistics.median(ours) / statistics.median(raw)
    note_goal("one-by-one on PostgreSQL", f"{n:,} runs, flowprov / raw psycopg", ratio, 1.2)
    row = [
        f"{n:,} runs, one by one (a reference + 5 params each)",
        fmt_seconds(statistics.median(ours)),
        fmt_seconds(statistics.median(raw)),
        f"{ratio:.2f}",
        f"median of {rounds}; baseline: one autocommit INSERT ... RETURNING id per run",
    ]
    return table(title, headers, [row])


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
