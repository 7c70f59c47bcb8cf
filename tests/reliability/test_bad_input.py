"""Bad input on the real command line: exit status 2, one line on stderr, no traceback, and the
store (or the foreign database) exactly as it was."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import flowprov as ln
from tests.conftest import PG_SERVER

HEADER = (
    "task_id\thash\tnative_id\tname\tstatus\texit\tsubmit\tduration\trealtime\t%cpu\tpeak_rss\tpeak_vmem\trchar\twchar"
)
ROW = "1\tab/cdef12\t1\tA (1)\tCOMPLETED\t0\t2026-01-01 10:00:00.000\t1s\t1s\t100%\t1 MB\t2 MB\t0\t0"
HUGE = "9" * 400
SESSION = "5477e033-04ee-44f1-81c9-a72a7f1508c2"


def trace(tmp: Path, name: str, row: str = ROW, header: str = HEADER, raw: bytes | None = None) -> str:
    path = tmp / name
    path.write_bytes(raw if raw is not None else f"{header}\n{row}\n".encode())
    return str(path)


def cases(tmp: Path, store: str) -> dict[str, list[str]]:
    """name -> the command's arguments; `store` is a healthy SQLite store that must stay unchanged."""
    (tmp / "text.db").write_text("not a database\n")
    (tmp / "dir.db").mkdir()
    foreign = tmp / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    (tmp / "not-json.json").write_text("{not json")
    (tmp / "latin1.yaml").write_bytes("ort: Zürich\n".encode("latin-1"))
    ingest = ["nextflow", "ingest", "--db", store, "--timezone", "UTC", "--session-id", SESSION]
    return {
        "db is a text file": ["runs", "--db", str(tmp / "text.db")],
        "db is a directory": ["runs", "--db", str(tmp / "dir.db")],
        "db does not exist (read)": ["runs", "--db", str(tmp / "missing.db")],
        "db is in memory": ["runs", "--db", "sqlite://"],
        "db is a foreign SQLite database": ["runs", "--db", str(foreign)],
        "postgres database does not exist": ["runs", "--db", PG_SERVER.rsplit("/", 1)[0] + "/no_such_database_x"],
        "postgres port refused": ["runs", "--db", "postgresql://postgres@127.0.0.1:1/test"],
        "limit too large": ["runs", "--db", store, "--limit", "99999999999999999999"],
        "limit not a number": ["runs", "--db", store, "--limit", "many"],
        "unknown option": ["runs", "--db", store, "--colour"],
        "show children not a number": ["show", "x", "--children", "some", "--db", store],
        "spool file not JSON": ["spool", "replay", str(tmp / "not-json.json"), "--db", store],
        "session id not a UUID": [*ingest[:-1], "not-a-uuid", trace(tmp, "t1.txt")],
        "params file not UTF-8": [*ingest, "--params-file", str(tmp / "latin1.yaml"), trace(tmp, "t2.txt")],
        "400-digit number": [*ingest, trace(tmp, "t3.txt", ROW.replace("1 MB", HUGE))],
        "400-digit task id": [*ingest, trace(tmp, "t4.txt", HUGE + ROW[1:])],
        "400-digit epoch date": [*ingest, trace(tmp, "t5.txt", ROW.replace("2026-01-01 10:00:00.000", HUGE))],
        "negative task id": [*ingest, trace(tmp, "t6.txt", "-5" + ROW[1:])],
        "submit date in 9999": [*ingest, trace(tmp, "t7.txt", ROW.replace("2026", "9999"))],
        "non-UTF-8 bytes": [
            *ingest,
            trace(tmp, "t8.txt", raw=f"{HEADER}\n{ROW}\n".encode().replace(b"A (1)", b"A (\xff)")),
        ],
        "wrong separator": [*ingest, trace(tmp, "t9.txt", ROW.replace("\t", ";"), header=HEADER.replace("\t", "|"))],
        "unknown column": [*ingest, trace(tmp, "t10.txt", header=HEADER.replace("wchar", "wchars"))],
        "truncated header": [*ingest, trace(tmp, "t11.txt", row="", header="task_id\tha")],
    }


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    """A store holding one run; every case must leave its bytes alone."""
    tmp = tmp_path_factory.mktemp("bad-input")
    ln.connect(tmp / "store.db")
    ln.Run(ln.Transform(name="kept", type="script").save(), name="kept").save()
    from flowprov.core.store.connection import disconnect_all

    disconnect_all()
    return tmp, tmp / "store.db"


def _case_names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return list(cases(Path(tmp), "store.db"))


@pytest.mark.parametrize("case", _case_names())
def test_bad_input_is_one_line_and_exit_2(healthy, case, tmp_path):
    from tests.conftest import require_pg

    if "postgres" in case:
        require_pg()
    _tmp, store = healthy
    argv = cases(tmp_path, str(store))[case]
    watched = [store, tmp_path / "foreign.db", tmp_path / "text.db", tmp_path / "missing.db"]
    before = {p: fingerprint(p) for p in watched}
    env = {**os.environ, "FLOWPROV_DB": str(store)}
    result = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", *argv], capture_output=True, text=True, env=env, timeout=120
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (case, result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("flowprov: error: "), (case, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    assert {p: fingerprint(p) for p in watched} == before, f"{case} changed a store"
