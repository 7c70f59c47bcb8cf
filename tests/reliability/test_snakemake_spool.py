"""A Snakemake execution whose store cannot be written runs as it would have; what the hooks or
`--logger flowprov` recorded goes to one spool file that `flowprov spool replay` writes exactly once.

Real Snakemake processes, both stores, two faults here: a read-only store (an immutable file; PostgreSQL's
default_transaction_read_only), and one lost halfway (a job makes it unwritable after the start
was written: the file made immutable, the PostgreSQL schema renamed away). A store unreachable
from the start is the conformance class's broken-store test (tests/integrations/conformance.py),
which both entry points run with the same exact-replay checks; it is not repeated here, for time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

import flowprov as ln
from tests.conftest import PG_SERVER, require_module
from tests.integrations.test_snakemake import HOOKS, SNAKEMAKE
from tests.reliability.test_track_offline import unwritable

require_module("snakemake")

RULES = """
configfile: "config.yaml"

rule all:
    input: "out/merged.txt"

rule copy:
    input: "in/{s}.txt"
    output: "out/{s}.txt"
    shell: "sh copy.sh {wildcards.s} {input} {output}"

rule merge:
    input: expand("out/{s}.txt", s=config["samples"])
    output: "out/merged.txt"
    shell: "cat {input} > {output}"
"""

COPY = """
if [ "$1" = "${FAIL_SAMPLE:-}" ]; then exit 3; fi
if [ "$1" = x ] && [ -n "${BREAK_STORE:-}" ]; then sh "$BREAK_STORE"; fi
(cat "$2"; echo copied "$1") > "$3"
"""
FAULTS = ["read-only", "lost-halfway"]


def make_workflow(root: Path, hooks: bool) -> Path:
    (root / "in").mkdir(parents=True)
    for s in ("x", "y"):
        (root / "in" / f"{s}.txt").write_text(f"input {s}\n")
    (root / "config.yaml").write_text("samples: [x, y]\nlabel: spool\n")
    (root / "copy.sh").write_text(COPY)
    (root / "uv.lock").write_text("version = 1\n# the project's lock file\n")
    (root / "Snakefile").write_text((HOOKS if hooks else "") + RULES)
    return root


BREAKER = """
import os, subprocess, sys, time
from sqlalchemy import create_engine, text

url, server, schema, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# the logger plugin sees events on Snakemake's logging thread: break the store only once the
# execution's start is in it, so the first write surely worked and a later one surely fails
engine = create_engine(url)
for _ in range(600):
    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM flowprov_run")).scalar():
            break
    time.sleep(0.1)
engine.dispose()
if url.startswith("postgresql"):
    with create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_gone"'))
else:
    subprocess.run(["chattr", "+i", *[f for f in files if os.path.exists(f)]], check=True)
"""


@contextmanager
def broken_halfway(store_url: str, tmp_path: Path):
    """The store's URL, and a shell script (for a job to run) that makes the store unwritable
    once the execution's start is written: the SQLite file (and its WAL) made immutable, the
    PostgreSQL schema renamed away."""
    ln.connect(store_url)  # the schema exists
    (tmp_path / "breaker.py").write_text(BREAKER)
    schema = store_url.rsplit("%3D", 1)[1] if store_url.startswith("postgresql") else "-"
    db = Path(store_url.removeprefix("sqlite:///"))
    files = [str(db.with_name(db.name + s)) for s in ("", "-wal")]  # not -shm: it is mapped in memory
    breaker = tmp_path / "break_store.sh"
    breaker.write_text(
        f"{sys.executable} {tmp_path / 'breaker.py'} '{store_url}' '{PG_SERVER}' {schema} {' '.join(files)}\n"
    )
    try:
        yield store_url, breaker
    finally:
        if store_url.startswith("postgresql"):
            import psycopg

            with psycopg.connect(PG_SERVER.replace("+psycopg", ""), autocommit=True) as conn:
                gone = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (f"{schema}_gone",)).fetchone()
                if gone:
                    conn.execute(f'ALTER SCHEMA "{schema}_gone" RENAME TO "{schema}"')
        else:
            subprocess.run(["chattr", "-i", *[f for f in files if Path(f).exists()]], check=True)


@contextmanager
def faulty_store(store_url: str, tmp_path: Path, fault: str):
    """(URL the workflow is given, the breaker script or None)."""
    if fault == "lost-halfway":
        with broken_halfway(store_url, tmp_path) as pair:
            yield pair
        return
    (tmp_path / "dir.db").mkdir(exist_ok=True)
    with unwritable(store_url, tmp_path, fault) as url:
        yield url, None


def run_snakemake(root: Path, url: str, plugin: bool, fail: bool, breaker: Path | None):
    env = {**os.environ, "FLOWPROV_DB": url, "FAIL_SAMPLE": "y" if fail else "", "BREAK_STORE": str(breaker or "")}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    args = [SNAKEMAKE, "-c1", "--keep-going", *(["--logger", "flowprov"] if plugin else [])]
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def replay(store_url: str, *files: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "spool", "replay", *map(str, files), "--db", store_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def expected_jobs(fail: bool) -> dict[str, str]:
    if fail:  # copy y fails: merge and all never run
        return {"copy (s=x)": "completed", "copy (s=y)": "errored"}
    return {"copy (s=x)": "completed", "copy (s=y)": "completed", "merge": "completed", "all": "completed"}


def check_store(store_url: str, root: Path, fail: bool) -> None:
    """The execution and its jobs as a healthy store would hold them, each file by its content."""
    from flowprov.core.hashing import hash_path

    ln.connect(store_url)
    [wf] = ln.Run.filter(reference_type="snakemake_workflow_id").list()
    [log] = (root / ".snakemake" / "log").glob("*.log")
    assert f"Workflow ID: {wf.reference}" in log.read_text()
    assert wf.status == ("errored" if fail else "completed") and wf.finished_at >= wf.started_at
    assert wf.params.get_values() == {"samples": ["x", "y"], "label": "spool"}
    assert wf.environment is not None and wf.report is not None
    [lock_uid] = wf.aux["environment_files"]
    assert ln.Artifact.get(lock_uid).hash == hash_path(root / "uv.lock").hash
    assert sorted(Path(a.path).name for a in wf.input_artifacts) == ["x.txt", "y.txt"]
    jobs = {r.name: r for r in wf.initiated_runs.all()}
    assert {name: r.status for name, r in jobs.items()} == expected_jobs(fail)
    assert ln.Run.filter().count() == 1 + len(jobs)
    outputs = {"copy (s=x)": ["out/x.txt"], "copy (s=y)": [] if fail else ["out/y.txt"], "merge": ["out/merged.txt"]}
    for name, run in jobs.items():
        wrote = {a.hash for a in run.output_artifacts}
        assert wrote == {hash_path(root / rel).hash for rel in outputs.get(name, [])}, name
        assert run.started_at is not None and run.reference.startswith(wf.reference + ":")
    on_disk = [p for p in root.rglob("*") if p.is_file() and ".snakemake" not in p.parts and p.suffix != ".yaml"]
    on_disk = [p for p in on_disk if p.name not in ("Snakefile", "copy.sh")]
    hashes = {hash_path(p).hash for p in on_disk} | {wf.environment.hash, wf.report.hash}
    assert ln.Artifact.filter().count() == len(hashes)  # every file once, nothing else


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("entry", ["hooks", "plugin"])
def test_unwritable_store_spools_and_replays_exactly(store_url, tmp_path, fault, entry):
    fail = fault == "read-only"  # one failing job in one fault per entry point: onerror spools too
    root = make_workflow(tmp_path / "wf", hooks=entry == "hooks")
    with faulty_store(store_url, tmp_path, fault) as (url, breaker):
        result = run_snakemake(root, url, plugin=entry == "plugin", fail=fail, breaker=breaker)
    assert result.returncode == (1 if fail else 0), result.stderr[-3000:]
    assert (root / "out" / "merged.txt").exists() != fail  # the workflow's own work, unchanged
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("flowprov:")]
    assert len(errors) == 1 and errors[0].startswith("flowprov: error: could not record the Snakemake execution")
    spool = Path(os.environ["XDG_DATA_HOME"]) / "flowprov" / "spool"
    [pending] = spool.glob("spool-*.json")
    assert str(pending) in errors[0] and "flowprov spool replay" in errors[0]
    [log] = (root / ".snakemake" / "log").glob("*.log")
    assert f"saved to {pending}" in log.read_text()  # the Snakemake log says it too

    jobs = len(expected_jobs(fail))
    stored_before = 1 if fault == "lost-halfway" else 0  # the start reached the store
    first = replay(store_url)
    assert f"{1 + jobs - stored_before} new run(s) of {1 + jobs}" in first, first
    again = replay(store_url, spool / "done" / pending.name)
    assert f"0 new run(s) of {1 + jobs}" in again, again
    check_store(store_url, root, fail)
