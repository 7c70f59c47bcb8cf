"""`flowprov ui` pages on a store of 1,000,000 runs: every page must render in under 200 ms.

The store holds 10,000 Snakemake-like workflow runs with 99 child runs each (params, statuses, 1%
errored), inserted as plain rows into flowprov's schema (a minute, where `flowprov.save(list)`
took over an hour), and one big workflow run whose 5,000 jobs each read one file and write one (a
10,000-file lineage), saved through flowprov's API. It is kept in benchmarks/.work/
and reused by later runs. Each page is requested through Starlette's TestClient (the whole app:
routing, queries, templates) and timed as a median; the baseline is the page's main query run raw
through the `sqlite3` module in the same run (the floor no page can beat).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from common import fmt_seconds, median_time, table

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BUDGET_S = 0.200
CHILDREN = 99
BIG_JOBS = 5000


RUN_INSERT = (
    "INSERT INTO flowprov_run (id, uid, name, started_at, reference, reference_type, created_at, params,"
    " _status_code, transform_id, initiated_by_run_id, created_by_id, space_id, branch_id)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1)"
)


def _when(base: dt.datetime, seconds: int) -> str:
    """A time as flowprov's SQLite columns hold it (naive UTC, ISO with a space)."""
    return (base + dt.timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(sep=" ")


def _run_rows(n_workflows: int, pipeline: int, steps: list[int], user: int, base: dt.datetime) -> Iterator[list]:
    """The workflow runs and their child runs as plain rows (ids given, so children name their parent)."""
    rows: list[tuple] = []
    for w in range(n_workflows):
        at = _when(base, w * 60)
        rows.append(
            (
                w + 1,
                f"wf{w:014d}",
                f"workflow {w}",
                at,
                f"wf-{w}",
                "snakemake_workflow_id",
                at,
                f'{{"n": {w % 10}}}',
                0,
                pipeline,
                None,
                user,
                1,
            )
        )
    next_id = n_workflows + 1
    for w in range(n_workflows - 1):  # the last workflow run gets the 5,000 jobs instead
        for j in range(CHILDREN):
            status = 1 if j == 7 and w % 10 == 0 else 0
            rows.append(
                (
                    next_id,
                    f"jb{next_id:014d}",
                    f"step{j % 5} (s={j})",
                    _when(base, w * 60 + j),
                    f"wf-{w}:{j}",
                    "snakemake_job_id",
                    _when(base, w * 60 + j),
                    f'{{"n": {j}}}',
                    status,
                    steps[j % 5],
                    w + 1,
                    user,
                    1,
                )
            )
            next_id += 1
            if len(rows) >= 100_000:
                yield rows
                rows = []
    yield rows


def build(db: Path, n_runs: int) -> dict[str, str]:
    """Fill `db` with about `n_runs` runs; returns the uids the pages are opened at.

    Transforms, the big workflow's jobs and their files go through flowprov's API; the many
    workflow and step runs are plain rows inserted into flowprov's schema (fixture data only:
    every page measured reads them through flowprov)."""
    import flowprov as ln
    from flowprov.core.registry.links import run_input_artifact
    from flowprov.core.store.connection import disconnect_all

    store = ln.connect(db)
    pipeline = ln.Transform(key="bench/Snakefile", type="pipeline", source_code="rule all: ...").save()
    ln.Transform(key="bench/Snakefile", type="pipeline", source_code="rule all: ... # v2").save()
    steps = [ln.Transform(key=f"bench/Snakefile#step{i}", type="step").save() for i in range(5)]
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    n_workflows = max(n_runs // (CHILDREN + 1), 2)
    disconnect_all()
    raw = sqlite3.connect(db)
    for rows in _run_rows(n_workflows, pipeline.id, [s.id for s in steps], pipeline.created_by_id, base):
        raw.executemany(RUN_INSERT, rows)
        raw.commit()
    raw.close()
    store = ln.connect(db)
    big = ln.Run.get(reference=f"wf-{n_workflows - 1}")
    files = WORK / "ui-files"
    files.mkdir(parents=True, exist_ok=True)
    jobs = [
        ln.Run(
            steps[j % 5],
            name=f"job {j}",
            initiated_by_run=big,
            status="completed",
            started_at=big.started_at + dt.timedelta(seconds=j),
        )
        for j in range(BIG_JOBS)
    ]
    ln.save(jobs)
    for j in range(BIG_JOBS):
        (files / f"in{j}.txt").write_text(f"input {j}\n")
        (files / f"out{j}.txt").write_text(f"output {j}\n")
    inputs = ln.save([ln.Artifact(files / f"in{j}.txt") for j in range(BIG_JOBS)])
    outputs = ln.save([ln.Artifact(files / f"out{j}.txt", run=jobs[j]) for j in range(BIG_JOBS)])
    with store.transaction() as session:
        session.execute(
            run_input_artifact.insert(),
            [{"run_id": r.id, "artifact_id": a.id} for r, a in zip(jobs, inputs, strict=True)],
        )
    workflow = ln.Run.get(reference="wf-1")
    return {"workflow": workflow.uid, "big": big.uid, "artifact": outputs[0].uid, "transform": pipeline.uid}


def load_or_build(n_runs: int) -> tuple[Path, dict[str, str], float]:
    import json

    db, meta = WORK / f"ui-{n_runs}-v2.db", WORK / f"ui-{n_runs}-v2.json"
    if db.exists() and meta.exists():
        return db, json.loads(meta.read_text()), 0.0
    for path in (db, meta):
        path.unlink(missing_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    uids = build(db, n_runs)
    from flowprov.core.store.connection import disconnect_all

    disconnect_all()
    meta.write_text(json.dumps(uids))
    return db, uids, time.perf_counter() - start


CHILDREN_OF = "SELECT * FROM flowprov_run WHERE initiated_by_run_id = (SELECT id FROM flowprov_run WHERE uid = ?)"
FILES_OF = (
    "SELECT a.* FROM flowprov_artifact a JOIN flowprov_run r ON a.run_id = r.id"
    " WHERE r.initiated_by_run_id = (SELECT id FROM flowprov_run WHERE uid = ?)"
)
RAW_RUNS = "SELECT r.*, t.key FROM flowprov_run r JOIN flowprov_transform t ON t.id = r.transform_id"


NEWEST = f"{RAW_RUNS} ORDER BY r.started_at DESC, r.id DESC LIMIT 51"


def pages(uids: dict[str, str]) -> list[tuple[str, str, str, tuple]]:
    """(label, path, the raw SQL of its main query, its parameters)."""
    return list_pages() + record_pages(uids)


def list_pages() -> list[tuple[str, str, str, tuple]]:
    """The runs list: pages, filters, sorting, the search box."""
    newest = NEWEST
    return [
        ("runs, newest first", "/runs", newest, ()),
        ("runs, page 100", "/runs?page=100", newest.replace("LIMIT 51", "LIMIT 51 OFFSET 4950"), ()),
        (
            "runs, `status=errored`",
            "/runs?status=errored",
            f"{RAW_RUNS} WHERE r._status_code = 1 ORDER BY r.started_at DESC LIMIT 51",
            (),
        ),
        (
            "runs, `reference_type=...&params__n__gt=3`",
            "/runs?reference_type=snakemake_workflow_id&params__n__gt=3",
            f"{RAW_RUNS} WHERE r.reference_type = 'snakemake_workflow_id' AND json_extract(r.params, '$.n') > 3"
            " ORDER BY r.started_at DESC LIMIT 51",
            (),
        ),
        ("runs, sorted by reference", "/runs?sort=reference", f"{RAW_RUNS} ORDER BY r.reference, r.id LIMIT 51", ()),
        (
            "runs, search box: a reference",
            "/runs?q=wf-42",
            f"{RAW_RUNS} WHERE r.uid = 'wf-42' OR r.reference = 'wf-42'",
            (),
        ),
        (
            "runs, search box: part of a name (newest 20,000 runs)",
            "/runs?q=workflow+999",
            f"{RAW_RUNS} WHERE r.id IN (SELECT id FROM flowprov_run ORDER BY started_at DESC LIMIT 20000)"
            " AND r.name LIKE '%workflow 999%' ORDER BY r.started_at DESC LIMIT 51",
            (),
        ),
    ]


def record_pages(uids: dict[str, str]) -> list[tuple[str, str, str, tuple]]:
    """One run, artifact, transform, lineage or diff, and the JSON API."""
    return [
        (
            "a workflow run (99 child runs, Gantt)",
            f"/runs/{uids['workflow']}",
            CHILDREN_OF,
            (uids["workflow"],),
        ),
        (
            "a workflow run with 5,000 jobs",
            f"/runs/{uids['big']}",
            CHILDREN_OF,
            (uids["big"],),
        ),
        (
            "an artifact",
            f"/artifacts/{uids['artifact']}",
            "SELECT * FROM flowprov_artifact WHERE uid = ?",
            (uids["artifact"],),
        ),
        (
            "a transform (versions, diff)",
            f"/transforms/{uids['transform']}",
            "SELECT * FROM flowprov_transform WHERE uid LIKE ?",
            (uids["transform"][:12] + "%",),
        ),
        (
            "lineage of an artifact",
            f"/lineage/{uids['artifact']}",
            "SELECT * FROM flowprov_artifact WHERE uid = ?",
            (uids["artifact"],),
        ),
        (
            "lineage of the 5,000-job run (10,000 files, by step)",
            f"/lineage/{uids['big']}",
            FILES_OF,
            (uids["big"],),
        ),
        (
            "a step run (with its link to the diff with the run before it)",
            f"/runs/{uids['job']}",
            "SELECT * FROM flowprov_run WHERE uid = ?",
            (uids["job"],),
        ),
        (
            "diff of a workflow run with the one before it (99 steps each)",
            f"/diff/{uids['workflow']}",
            CHILDREN_OF,
            (uids["workflow"],),
        ),
        ("`/api/runs`", "/api/runs", NEWEST, ()),
        (
            "`/api/lineage` of the 5,000-job run",
            f"/api/lineage/{uids['big']}",
            FILES_OF,
            (uids["big"],),
        ),
    ]


def run(quick: bool = False) -> str:
    from starlette.testclient import TestClient

    from flowprov.ui.app import create_app

    n_runs = 20_000 if quick else 1_000_000
    db, uids, built = load_or_build(n_runs)
    app = create_app(f"sqlite:///{db}")
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    # a step run of the workflow run (looked up here, so stores built before this page was added serve)
    uids["job"] = raw.execute(
        f"SELECT uid FROM ({CHILDREN_OF}) ORDER BY id DESC LIMIT 1", (uids["workflow"],)
    ).fetchone()[0]
    rows, slowest = [], 0.0
    with TestClient(app) as client:
        for label, path, sql, params in pages(uids):
            assert client.get(path).status_code == 200, path  # warm: templates compiled, pages cached
            ours = median_time(lambda p=path: client.get(p), 7)
            base = median_time(lambda s=sql, a=params: raw.execute(s, a).fetchall(), 7)
            slowest = max(slowest, ours)
            rows.append(
                [
                    label,
                    fmt_seconds(ours),
                    fmt_seconds(base),
                    f"{ours / base:.1f}",
                    "yes" if ours < BUDGET_S else "**no**",
                ]
            )
    app.state.store.dispose()
    note = (
        f" (store built in {built:.0f} s: plain rows, the big run through flowprov)"
        if built
        else " (store reused from benchmarks/.work/)"
    )
    return (
        table(
            f"`flowprov ui` pages, {n_runs:,} runs{note}; baseline: the page's main query through raw sqlite3",
            ["page", "flowprov ui", "raw sqlite3 query", "ratio", "< 200 ms"],
            rows,
        )
        + f"\nSlowest page: {fmt_seconds(slowest)}.\n"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print(run(quick="--quick" in sys.argv))
