"""A store lost halfway through a tracked script: the run that `track()` stored carries on offline
(same uid), the script's output and exit status stay its own, and the replay completes that run
in the store without duplicating it (real processes, both stores)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import flowprov as ln
from tests.conftest import PG_SERVER

# The script breaks its own store at a chosen point (BREAK_AT) by running the command the test
# gives it (BREAK_CMD): the fault happens between two recording calls, in the same process.
SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys
    import flowprov as ln

    def break_store(point):
        if os.environ["BREAK_AT"] == point:
            subprocess.run(os.environ["BREAK_CMD"], shell=True, check=True)

    ln.track(params={"n": 3})
    with open("input.txt", "w") as fh:
        fh.write("input\\n")
    ln.track_input("input.txt")
    break_store("before-output")
    with open("result.txt", "w") as fh:
        fh.write("the script's own work\\n")
    ln.track_output("result.txt")
    break_store("before-finish")
    print("the script ran to its end")
    sys.exit(int(sys.argv[1]))
    """
)


@contextmanager
def breakable(store_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(URL the script writes through, shell command that makes it unwritable, command undoing it)."""
    if store_url.startswith("sqlite"):
        db = store_url.removeprefix("sqlite:///")
        # immutable: even root's already-open descriptors get EPERM on write (not the -shm file:
        # SQLite maps it into memory, and a write there would be SIGBUS, not an error)
        files = f"{db} {db}-wal"
        yield (
            store_url,
            f"for f in {files}; do [ -e $f ] && chattr +i $f; done; true",
            f"chattr -i {files} 2>/dev/null; true",
        )
        return
    # PostgreSQL: a login role of its own whose write grants are revoked mid-run
    role = "fp_half_" + uuid.uuid4().hex[:10]
    schema = store_url.split("search_path%3D")[1]
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
    revoke = f'psql -h 127.0.0.1 -U postgres -d test -qc \'REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"\''
    try:
        yield store_url.replace("postgres@", f"{role}@"), revoke, "true"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.parametrize("point", ["before-output", "before-finish"])
def test_store_lost_halfway_the_same_run_is_completed_by_replay(store_url, tmp_path, point):
    ln.connect(store_url)  # the schema exists before the script starts
    work = tmp_path / "work"
    work.mkdir()
    (work / "analysis.py").write_text(SCRIPT)
    with breakable(store_url, tmp_path) as (url, break_cmd, undo_cmd):
        env = {**os.environ, "FLOWPROV_DB": url, "BREAK_AT": point, "BREAK_CMD": break_cmd}
        env.pop("FLOWPROV_INITIATED_BY_RUN", None)
        try:
            done = subprocess.run(
                [sys.executable, "analysis.py", "3"], cwd=work, env=env, capture_output=True, text=True, timeout=180
            )
        finally:
            subprocess.run(undo_cmd, shell=True, check=True)
        assert done.returncode == 3, done.stderr
        assert done.stdout.strip() == "the script ran to its end" and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2, lines
        assert lines[0].startswith("flowprov: warning: the store failed while recording"), lines
        spool = Path(os.environ["XDG_DATA_HOME"]) / "flowprov" / "spool"
        [pending] = sorted(spool.glob("spool-*.json"))
        assert str(pending) in lines[1] and "flowprov spool replay" in lines[1]

        ln.connect(store_url)
        [started] = ln.Run.filter(transform__key="analysis.py").list()
        assert started.status == "started"  # what the store held when it was lost

        replay = [sys.executable, "-m", "flowprov.cli", "spool", "replay", "--db", store_url]
        first = subprocess.run(replay, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0 and "0 new run(s) of 1" in first.stdout, first.stdout + first.stderr
        again = subprocess.run(
            [*replay[:-2], str(spool / "done" / pending.name), *replay[-2:]], capture_output=True, text=True
        )
        assert again.returncode == 0 and "0 new run(s) of 1" in again.stdout, again.stdout + again.stderr

    ln.connect(store_url)
    [run] = ln.Run.filter(transform__key="analysis.py").list()
    assert run.uid == started.uid
    assert run.status == "completed" and run.finished_at is not None and run.started_at < run.finished_at
    assert [Path(a.path).name for a in run.input_artifacts] == ["input.txt"]
    assert [Path(a.path).name for a in run.output_artifacts] == ["result.txt"]
    assert run.params.get_values() == {"n": 3}
