"""A `@tracked` Prefect flow whose store cannot be written keeps its own outcome; its runs go to a
spool file that `flowprov spool replay` writes exactly, once (issue 13; real Prefect, real
processes, both stores).

One child process per case runs two flow runs of the same flow against the session's Prefect
server: one that returns, one that raises. Faults: the store unreachable (a closed port, a
directory), read-only (SQLite immutable, PostgreSQL `default_transaction_read_only`), and lost
halfway (a task makes the SQLite file immutable, or closes the TCP proxy the PostgreSQL store is
reached through).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import require_module, set_prefect_test_env
from tests.reliability.test_track_offline import unwritable

set_prefect_test_env()
require_module("prefect")

import flowprov as ln  # noqa: E402

FLOW = textwrap.dedent(
    '''
    import os, socket, subprocess, sys, threading
    from pathlib import Path
    from prefect import flow, task
    from prefect.runtime import flow_run
    import flowprov as ln
    from flowprov.integrations.prefect import tracked


    class Proxy:
        """A TCP forwarder to PostgreSQL that can be cut: the store lost halfway."""

        def __init__(self, host, port):
            self.target, self.conns = (host, int(port)), []
            self.server = socket.create_server(("127.0.0.1", 0))
            self.port = self.server.getsockname()[1]
            threading.Thread(target=self.accept, daemon=True).start()

        def accept(self):
            while True:
                try:
                    client, _ = self.server.accept()
                except OSError:
                    return
                if self.server.fileno() < 0:  # cut while accepting: refuse
                    client.close()
                    return
                upstream = socket.create_connection(self.target)
                self.conns += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

        def pipe(self, a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass

        def cut(self):
            try:
                self.server.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
            except OSError:
                pass
            self.server.close()
            for conn in self.conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()


    PROXY = None
    if os.environ.get("LOSE_STORE") == "proxy":
        PROXY = Proxy("127.0.0.1", 5432)
        os.environ["FLOWPROV_DB"] = os.environ["FLOWPROV_DB"].replace("127.0.0.1:5432", f"127.0.0.1:{PROXY.port}")


    @task
    def write(path: str, text: str) -> str:
        Path(path).write_text(text)
        ln.track_output(path)
        return path


    @task
    def lose_store() -> None:
        fault = os.environ.get("LOSE_STORE")
        if fault == "proxy" and PROXY is not None:
            PROXY.cut()
        elif fault:  # the database and its write-ahead log
            files = [f for f in (fault, fault + "-wal") if os.path.exists(f)]
            subprocess.run(["chattr", "+i", *files], check=True)


    @tracked
    @flow
    def produce(root: str, fail: bool = False) -> str:
        print("flow run", flow_run.id, flush=True)
        Path(root).mkdir(exist_ok=True)
        write(f"{root}/a.txt", f"a of {root}")  # distinct bytes: one artifact per file
        lose_store()
        out = write(f"{root}/b.txt", f"b of {root}")
        if fail:
            raise ValueError("the flow's own failure")
        return out


    print("result", produce(sys.argv[1] + "/ok"), flush=True)
    produce(sys.argv[1] + "/failing", fail=True)
    '''
)


@contextmanager
def lost_halfway(store_url: str, tmp_path: Path):
    """Environment for a child whose store is lost after the flow run started."""
    ln.connect(store_url)  # the store exists, with its schema
    if store_url.startswith("postgresql"):
        yield store_url, {"LOSE_STORE": "proxy"}
        return
    db = store_url.removeprefix("sqlite:///")
    try:
        yield store_url, {"LOSE_STORE": db}
    finally:
        subprocess.run(["chattr", "-i", *(f for f in (db, db + "-wal") if os.path.exists(f))], check=True)


@contextmanager
def broken(store_url: str, tmp_path: Path, fault: str):
    if fault == "lost-halfway":
        with lost_halfway(store_url, tmp_path) as found:
            yield found
        return
    (tmp_path / "dir.db").mkdir()
    with unwritable(store_url, tmp_path, fault) as bad_url:
        yield bad_url, {}


def run_flows(prefect_api: str, db_url: str, extra: dict[str, str], work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWPROV_DB": db_url, "PREFECT_API_URL": prefect_api, **extra}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    (work / "flows.py").write_text(FLOW)
    return subprocess.run(
        [sys.executable, "flows.py", str(work)], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )


new_runs: dict[str, int] = {}  # spool file -> new runs of the last replay


def replayed(store_url: str, *files: Path) -> dict[str, int]:
    """`flowprov spool replay` (every pending file, or the files given): file -> runs in it."""
    from typer.testing import CliRunner

    from flowprov.cli import app

    result = CliRunner().invoke(app, ["spool", "replay", *map(str, files), "--db", store_url])
    assert result.exit_code == 0, result.output
    totals: dict[str, int] = {}
    new_runs.clear()
    for line in result.stdout.splitlines():
        path, counts = line.split(": ", 1)
        words = counts.split()  # "<new> new run(s) of <total> written to <store>"
        new_runs[path], totals[path] = int(words[0]), int(words[4])
    return totals


def check_recorded(store_url: str, work: Path, flow_run_ids: list[str]) -> None:
    """What Prefect ran is what is stored: two flow runs, three task runs each, their files."""
    ln.connect(store_url).session.expunge_all()
    flows = {r.reference: r for r in ln.Run.filter(reference_type="prefect_flow_run_id")}
    assert sorted(flows) == sorted(flow_run_ids)
    ok, failing = (flows[i] for i in flow_run_ids)
    assert ok.status == "completed" and failing.status == "errored"
    assert "the flow's own failure" in failing.aux["error"]
    for run, root in ((ok, work / "ok"), (failing, work / "failing")):
        assert run.params.get_values() == {"root": str(root), "fail": run is failing}
        assert run.environment is not None and run.started_at <= run.finished_at
        tasks = run.initiated_runs.filter(reference_type="prefect_task_run_id").list()
        assert sorted(t.transform.name for t in tasks) == ["lose_store", "write", "write"]
        assert {t.status for t in tasks} == {"completed"}
        outputs = sorted(a.uri for t in tasks for a in t.output_artifacts)
        assert outputs == [(root / "a.txt").as_uri(), (root / "b.txt").as_uri()]
    assert ok.output_artifacts.count() == 0  # b.txt is its task's output, not the flow's
    assert ln.Run.filter().count() == 2 + 6


@pytest.mark.parametrize("fault", ["unreachable", "read-only", "lost-halfway"])
def test_a_broken_store_leaves_the_flow_and_its_runs_are_replayed_exactly(prefect_api, store_url, tmp_path, fault):
    work = tmp_path / "work"
    work.mkdir()
    with broken(store_url, tmp_path, fault) as (bad_url, extra):
        done = run_flows(prefect_api, bad_url, extra, work)
    # the flow's own outcome: the first returns, the second raises, the exit status is Python's
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"result {work / 'ok' / 'b.txt'}" in done.stdout
    assert done.stderr.rstrip().splitlines()[-1] == "ValueError: the flow's own failure"
    flowprov_lines = [line for line in done.stderr.splitlines() if line.startswith("flowprov:")]
    assert len(flowprov_lines) == 2, [line for line in done.stderr.splitlines() if "flowprov" in line]  # one per run
    spooled = []
    for line in flowprov_lines:
        assert line.startswith("flowprov: error: could not record the Prefect flow run ") and "saved to " in line
        spooled.append(Path(line.split("saved to ", 1)[1].split(": write it later", 1)[0]))
    assert len(set(spooled)) == 2 and all(p.is_file() for p in spooled)
    flow_run_ids = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("flow run ")]

    # the first replay writes every run not stored yet: all 8, or 7 when the first flow run's start
    # was written before the store was lost
    assert replayed(store_url) == {str(p): 4 for p in spooled}
    assert sum(new_runs.values()) == (7 if fault == "lost-halfway" else 8)
    check_recorded(store_url, work, flow_run_ids)
    done_dir = spooled[0].parent / "done"
    assert replayed(store_url, *(done_dir / p.name for p in spooled)) == {str(done_dir / p.name): 4 for p in spooled}
    assert sum(new_runs.values()) == 0
    check_recorded(store_url, work, flow_run_ids)
