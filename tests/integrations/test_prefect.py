"""Real Prefect 3 flows with @tracked, against the test session's temporary Prefect server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from tests.conftest import require_module, set_prefect_test_env

set_prefect_test_env()
prefect = require_module("prefect")

from prefect.exceptions import CancelledRun  # noqa: E402
from prefect.flow_engine import FlowRunTimeoutError  # noqa: E402
from prefect.states import Cancelled  # noqa: E402
from pydantic import BaseModel, SecretStr  # noqa: E402

import flowprov as ln  # noqa: E402
from flowprov.integrations.prefect import reconcile_pending, tracked  # noqa: E402
from prefect import flow, task  # noqa: E402


@pytest.fixture(autouse=True)
def prefect_server(prefect_api):
    """Every test here runs against the session's temporary Prefect server (tests/conftest.py)."""
    return prefect_api


class Options(BaseModel):
    threshold: float = 0.5
    token: SecretStr = SecretStr("hunter2")


@task
def double(x: int) -> int:
    return 2 * x


@task
def write_text(path: str, value: int) -> str:
    Path(path).write_text(str(value))
    ln.track_output(path)
    return path


@task
def explode(x: int) -> int:
    raise ValueError(f"bad value {x}")


@tracked
@flow
def leaf(n: int) -> int:
    return double(n)


@tracked
@flow
def middle(n: int) -> int:
    return leaf(n) + 1


@tracked
@flow
def etl(src: Path, n: int = 3, options: Options = Options(), api_password: str = "p") -> Path:  # noqa: B008
    ln.track_input(src)
    mapped = double.map([1, 2, 3])
    single = double.submit(n)
    total = sum(f.result() for f in mapped) + single.result() + middle(n)
    return Path(write_text(str(src.with_suffix(".out")), total))


def flow_run(name_or_ref: str):
    return ln.Run.get(reference=name_or_ref, reference_type="prefect_flow_run_id")


def test_flow_tasks_subflows_params_and_files(store, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("data")
    out = etl(src)
    assert out == tmp_path / "in.out" and out.read_text() == str(2 + 4 + 6 + 6 + 7)
    run = ln.Run.get(transform__key__endswith=":etl", reference_type="prefect_flow_run_id")
    assert run.status == "completed" and run.transform.name == "etl" and run.transform.type == "pipeline"
    assert "def etl(" in run.transform.source_code and run.transform.version_tag is None
    assert run.params.get_values() == {
        "src": str(src),
        "n": 3,
        "options": {"threshold": 0.5, "token": "***"},
        "api_password": "***",
    }
    assert [a.uri for a in run.input_artifacts] == [src.as_uri()]
    # the environment listing lives beside an SQLite store (FLOWPROV_DB, connect), not in the cache
    listing = Path(url2pathname(urlparse(run.environment.uri).path))
    if store.url.startswith("sqlite:///"):
        assert listing.parent == Path(store.url.removeprefix("sqlite:///")).parent / ".flowprov-environments"
    assert listing.is_file() and listing.name.startswith("python-")
    tasks = {r.name.rsplit("-", 1)[0]: r for r in run.initiated_runs.filter(reference_type="prefect_task_run_id")}
    names = sorted(r.name.rsplit("-", 1)[0] for r in run.initiated_runs.filter(reference_type="prefect_task_run_id"))
    assert names == ["double", "double", "double", "double", "write_text"]  # the subflow is no step
    assert tasks["double"].transform.key.endswith(":etl#double") and tasks["double"].transform.type == "step"
    writer = tasks["write_text"]
    assert [a.uri for a in writer.output_artifacts] == [out.as_uri()]
    # subflows nested two deep hang under their parents
    mid = ln.Run.get(transform__key__endswith=":middle", reference_type="prefect_flow_run_id")
    inner = ln.Run.get(transform__key__endswith=":leaf", reference_type="prefect_flow_run_id")
    assert mid.initiated_by_run.id == run.id and inner.initiated_by_run.id == mid.id
    assert inner.initiated_runs.count() == 1


def test_async_flow(store):
    @tracked
    @flow
    async def async_flow(x: int = 2) -> int:
        return await asyncio.sleep(0, result=x * 10)

    assert asyncio.run(async_flow(4)) == 40
    run = ln.Run.get(transform__key__endswith="async_flow", reference_type="prefect_flow_run_id")
    assert run.status == "completed" and run.params.get_values() == {"x": 4}


def test_failing_task_and_flow_reraise_the_same_exception(store):
    @tracked
    @flow
    def fails() -> int:
        return explode(1)

    with pytest.raises(ValueError, match="bad value 1"):
        fails()
    run = ln.Run.get(transform__key__endswith="fails", reference_type="prefect_flow_run_id")
    assert run.status == "errored" and "bad value 1" in run.aux["error"]
    assert run.initiated_runs.get().status == "errored"


def test_retries_and_timeout(store):
    attempts = {"n": 0}

    @tracked
    @flow(retries=1, retry_delay_seconds=0)
    def flaky() -> str:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    assert flaky() == "ok"
    run = ln.Run.get(transform__key__endswith="flaky", reference_type="prefect_flow_run_id")
    assert run.status == "completed" and run.aux["attempts"] == 2

    @tracked
    @flow(timeout_seconds=0.5)
    def slow() -> None:
        import time

        time.sleep(3)

    with pytest.raises(FlowRunTimeoutError, match="timed out after 0.5 second"):
        slow()
    assert ln.Run.get(transform__key__endswith="slow", reference_type="prefect_flow_run_id").status == "errored"


def test_cancelled_run_is_reconciled(store):
    @tracked
    @flow
    def gives_up():
        return Cancelled(message="not today")

    with pytest.raises(CancelledRun, match="not today"):
        gives_up()
    run = ln.Run.get(transform__key__endswith="gives_up", reference_type="prefect_flow_run_id")
    assert run.status == "started"  # no hook fires for `return Cancelled()`
    assert reconcile_pending(store) == 1
    store.session.expunge_all()
    run = ln.Run.get(transform__key__endswith="gives_up", reference_type="prefect_flow_run_id")
    assert run.status == "aborted" and run.aux["reconciled"] is True and run.aux["prefect_state"] == "Cancelled"


def test_with_options_keeps_tracking_and_the_flow_stays_a_flow(store):
    @flow
    def plain(x: int = 1) -> int:
        return x + 1

    t = tracked(plain)
    renamed = t.with_options(name="renamed", on_completion=[lambda flow, run, state: None])
    assert renamed(1) == 2
    assert ln.Run.filter(reference_type="prefect_flow_run_id", transform__name="renamed").count() == 1
    assert isinstance(t, prefect.Flow) and t.fn is plain.fn
    assert callable(t.serve) and callable(t.to_deployment) and callable(t.deploy)
    assert list(t.parameters.properties) == ["x"] and t.validate_parameters({"x": "3"}) == {"x": 3}
    assert tracked(tasks=False)(plain)(5) == 6
    assert ln.Run.filter(reference_type="prefect_flow_run_id", transform__key__endswith=".plain").count() == 2


def test_tasks_false_records_files_added_in_tasks_on_the_flow_run(store, tmp_path):
    @tracked(tasks=False)
    @flow
    def untasked(root: str) -> int:
        write_text(f"{root}/a.txt", 1)
        write_text.submit(f"{root}/b.txt", 2).result()
        return double(3)

    assert untasked(str(tmp_path)) == 6
    [run] = ln.Run.filter(reference_type="prefect_flow_run_id", transform__name="untasked").list()
    assert run.status == "completed"
    assert run.initiated_runs.count() == 0  # no task runs recorded
    assert sorted(a.uri for a in run.output_artifacts) == [(tmp_path / n).as_uri() for n in ("a.txt", "b.txt")]
    for name in ("a.txt", "b.txt"):
        assert ln.Artifact.get(path=(tmp_path / name).as_uri()).run_id == run.id


def test_tracked_below_flow_is_a_clear_error():
    with pytest.raises(TypeError, match="above @flow"):

        @flow
        @tracked
        def wrong() -> None:
            return None


def test_adapter_failure_leaves_the_result_and_spools_the_run(capfd):
    import json

    @tracked(db="postgresql://nobody@127.0.0.1:1/nowhere")
    @flow
    def still_works(x: int) -> int:
        return double(x) + 1

    assert still_works(7) == 15
    lines = [line for line in capfd.readouterr().err.splitlines() if "flowprov:" in line]
    assert len(lines) == 1 and lines[0].startswith("flowprov: error: could not record the Prefect flow run "), lines
    spooled = Path(lines[0].split("saved to ", 1)[1].split(":", 1)[0])
    runs = json.loads(spooled.read_text())["runs"]
    assert [r["reference_type"] for r in runs] == ["prefect_flow_run_id", "prefect_task_run_id"]
    assert runs[0]["status"] == "completed" and runs[0]["params"] == {"x": 7} and runs[0]["environment"]


# -- lineage when two tasks write the same bytes (issue 14) -----------------------------------
_writer_of: dict[str, str] = {}  # path -> the Prefect task run id that wrote it


@task
def write_marker(path: str) -> str:
    from prefect.runtime import task_run

    Path(path).write_text("done\n")  # the same bytes from every call
    ln.track_output(path)
    _writer_of[path] = str(task_run.id)
    return path


@task
def count_chars(path: str) -> str:
    from prefect.runtime import task_run

    ln.track_input(path)
    out = path + ".n"
    Path(out).write_text(str(len(Path(path).read_text())))
    ln.track_output(out)
    _writer_of[out] = str(task_run.id)
    return out


@tracked
@flow
def markers(root: Path) -> list[str]:
    a = write_marker.submit(str(root / "a.done"))
    b = write_marker.submit(str(root / "b.done"))
    return [a.result(), count_chars(b.result())]


def test_two_tasks_writing_the_same_bytes_each_own_their_file(store, tmp_path):
    import json

    from typer.testing import CliRunner

    from flowprov.cli import app
    from flowprov.lineage import locate, upstream

    _writer_of.clear()
    (a_done, counted), b_done = markers(tmp_path), tmp_path / "b.done"
    assert (a_done, counted) == (str(tmp_path / "a.done"), str(tmp_path / "b.done.n")) and (
        tmp_path / "a.done"
    ).read_bytes() == b_done.read_bytes()
    writer = {p: ln.Run.get(reference=ref, reference_type="prefect_task_run_id") for p, ref in _writer_of.items()}
    for path in (a_done, str(b_done), counted):
        assert locate(path).run == writer[path] and locate(path).matched_by == "location"
    cli = CliRunner().invoke(app, ["lineage", counted, "--json", "--db", store.url])
    graph = json.loads(cli.stdout)
    assert graph["start_run"] == writer[counted].uid
    assert {r["uid"] for r in graph["runs"]} == {writer[counted].uid, writer[str(b_done)].uid}
    up = upstream(writer[counted])
    assert {r.id for r in up.runs} == {writer[counted].id, writer[str(b_done)].id}  # not a.done's task
    both = {writer[a_done].id, writer[str(b_done)].id}
    [marker] = {a.id: a for r in both for a in ln.Run.get(id=r).output_artifacts}.values()
    assert marker.run_id in both and {r.id for r in marker.recreating_runs} == both - {marker.run_id}
    flow_run = ln.Run.get(transform__key__endswith=":markers", reference_type="prefect_flow_run_id")
    assert flow_run.output_artifacts.count() == 0  # its tasks wrote the files it returned
    for task_run in flow_run.initiated_runs.all():
        assert task_run.started_at <= task_run.finished_at <= flow_run.finished_at


# -- issue 21: task runs from the task engine, in the flow's process ---------------------------
@task
def inc(x: int) -> int:
    return x + 1


def test_every_task_run_of_a_500_task_flow_is_recorded(store):
    @tracked
    @flow
    def wide(n: int) -> int:
        return sum(f.result() for f in inc.map(range(n)))

    assert wide(500) == sum(range(1, 501))
    run = ln.Run.get(transform__key__endswith=".wide", reference_type="prefect_flow_run_id")
    tasks = run.initiated_runs.filter(reference_type="prefect_task_run_id")
    assert tasks.count() == 500 and {t.status for t in tasks} == {"completed"}
    assert sorted(t.params["x"] for t in tasks) == list(range(500))
    assert all(t.finished_at is not None and t.started_at <= t.finished_at for t in tasks)


@task
def login(user: str, api_token: str, db_url: str, rows: list[int]) -> str:
    return user


def test_task_parameters_are_redacted_and_capped(store):
    from flowprov.integrations.prefect_params import PARAM_SIZE_CAP

    @tracked
    @flow
    def secretive() -> str:
        return login("ada", "s3cr3t-token", "postgresql://ada:pw123@db/x", list(range(5000)))

    assert secretive() == "ada"
    [task_run] = ln.Run.filter(reference_type="prefect_task_run_id", transform__name="login")
    params = task_run.params.get_values()
    assert params["user"] == "ada" and params["api_token"] == "***"
    assert "pw123" not in params["db_url"] and params["db_url"].startswith("postgresql://ada:")
    assert params["rows"].startswith("<list: 5000 items, ") and len(params["rows"]) < PARAM_SIZE_CAP


@task
def first_step(src: str) -> str:
    out = src + ".a"
    Path(out).write_text(Path(src).read_text().upper())
    return out


@task
def second_step(path: str) -> str:
    out = path + ".b"
    Path(out).write_text(Path(path).read_text() * 2)
    return out


@tracked
@flow
def chain(src: str) -> str:
    return second_step(first_step(src))


def test_a_path_passed_from_task_to_task_links_their_lineage(store, tmp_path):
    import json

    from typer.testing import CliRunner

    from flowprov.cli import app

    src = tmp_path / "raw.txt"
    src.write_text("abc")
    out = chain(str(src))
    first = ln.Run.get(reference_type="prefect_task_run_id", transform__name="first_step")
    second = ln.Run.get(reference_type="prefect_task_run_id", transform__name="second_step")
    assert [a.uri for a in first.input_artifacts] == [src.as_uri()]
    assert [a.uri for a in first.output_artifacts] == [Path(src.as_posix() + ".a").as_uri()]
    assert [a.uri for a in second.input_artifacts] == [Path(src.as_posix() + ".a").as_uri()]
    assert [a.uri for a in second.output_artifacts] == [Path(out).as_uri()]
    cli = CliRunner().invoke(app, ["lineage", out, "--json", "--db", store.url])
    assert cli.exit_code == 0, cli.output
    graph = json.loads(cli.stdout)
    assert {r["uid"] for r in graph["runs"]} >= {first.uid, second.uid}
    assert src.as_uri() in json.dumps(graph)


@task
def write_in_child(path: str) -> str:
    Path(path).write_text(f"{Path(path).name} from a child process")
    ln.track_output(path)
    return path


def test_process_pool_tasks_record_into_the_flow(store, tmp_path, capfd):
    from prefect.task_runners import ProcessPoolTaskRunner

    @tracked
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pooled(root: str) -> list[str]:
        return [f.result() for f in write_in_child.map([f"{root}/p{i}.txt" for i in range(3)])]

    outs = pooled(str(tmp_path))
    assert [Path(p).read_text() for p in outs] == [f"p{i}.txt from a child process" for i in range(3)]
    run = ln.Run.get(transform__key__endswith=".pooled", reference_type="prefect_flow_run_id")
    tasks = run.initiated_runs.filter(reference_type="prefect_task_run_id")
    assert tasks.count() == 3 and {t.status for t in tasks} == {"completed"}
    assert sorted(a.uri for t in tasks for a in t.output_artifacts) == sorted(Path(p).as_uri() for p in outs)
    assert "flowprov: error" not in capfd.readouterr().err


def test_async_flow_with_tasks_warns_nothing(store, capfd):
    import warnings

    @task
    async def add_async(x: int) -> int:
        return x + 1

    @tracked
    @flow
    async def async_tasks(n: int) -> int:
        return sum(await asyncio.gather(*(add_async(i) for i in range(n))))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert asyncio.run(async_tasks(5)) == 15
    run = ln.Run.get(transform__key__endswith="async_tasks", reference_type="prefect_flow_run_id")
    assert run.initiated_runs.filter(reference_type="prefect_task_run_id").count() == 5
    err = capfd.readouterr().err
    assert "never awaited" not in err and "EventsWorker" not in err and "flowprov:" not in err


@tracked
@flow
def top(n: int) -> int:
    return middle(n) + double(n)


def test_subflows_three_deep_are_runs_not_steps(store):
    assert top(2) == 4 + 1 + 4
    outer = ln.Run.get(transform__key__endswith=":top", reference_type="prefect_flow_run_id")
    mid = ln.Run.get(transform__key__endswith=":middle", reference_type="prefect_flow_run_id")
    inner = ln.Run.get(transform__key__endswith=":leaf", reference_type="prefect_flow_run_id")
    assert mid.initiated_by_run.id == outer.id and inner.initiated_by_run.id == mid.id
    assert [r.transform.name for r in outer.initiated_runs.filter(reference_type="prefect_task_run_id")] == ["double"]
    assert mid.initiated_runs.filter(reference_type="prefect_task_run_id").count() == 0
    assert inner.initiated_runs.filter(reference_type="prefect_task_run_id").count() == 1


CONCURRENT_FLOWS = """
import os, sys, time
from pathlib import Path
from prefect import flow, task
from flowprov.integrations.prefect import tracked


@task
def inc(x: int) -> int:
    return x + 1


@tracked
@flow
def busy(n: int) -> int:
    return sum(f.result() for f in inc.map(range(n)))


flows, tasks = int(sys.argv[1]), int(sys.argv[2])
Path(f"ready-{os.getpid()}").touch()  # imports done: every process starts its flows at once
deadline = time.monotonic() + 300
while not Path("go").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
for _ in range(flows):
    assert busy(tasks) == sum(range(1, tasks + 1))
"""
# processes x flows x tasks: on SQLite the 4 x 3 x 30; on PostgreSQL, whose writers do
# not queue on one lock, fewer (the suite's time) but still several processes creating the same
# transforms and writing runs at once
CONCURRENCY = {"sqlite": (4, 3, 30), "postgresql": (3, 2, 20)}


def _release_together(children, folder: Path) -> None:
    """Let the processes start their flows once every one has imported (each touched `ready-*`)."""
    import time

    deadline = time.monotonic() + 300
    while len(list(folder.glob("ready-*"))) < len(children) and time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            break  # one failed to start: its error is reported below
        time.sleep(0.05)
    (folder / "go").touch()


def test_concurrent_processes_record_every_task_run_once(prefect_api, store_url, tmp_path):
    """Processes running tracked flows at once, each task run stored once, none lost (issue 21)."""
    import subprocess
    import sys

    from flowprov.integrations.prefect import read_all_task_runs

    processes, flows, tasks = CONCURRENCY["sqlite" if store_url.startswith("sqlite") else "postgresql"]
    store = ln.connect(store_url)
    (tmp_path / "busy.py").write_text(CONCURRENT_FLOWS)
    env = {**os.environ, "FLOWPROV_DB": store.url, "PREFECT_API_URL": prefect_api, "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    children = [
        subprocess.Popen(
            [sys.executable, "busy.py", str(flows), str(tasks)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    _release_together(children, tmp_path)
    outcomes = [(child.wait(timeout=600), child.stderr.read()) for child in children]  # type: ignore[union-attr]
    assert [code for code, _ in outcomes] == [0] * processes, outcomes[0][1][-3000:]
    assert not [line for _, err in outcomes for line in err.splitlines() if line.startswith("flowprov:")]
    store.session.expunge_all()
    runs = ln.Run.filter(reference_type="prefect_flow_run_id", transform__key="busy:busy").list()
    assert len(runs) == processes * flows and {r.status for r in runs} == {"completed"}
    for run in runs:  # what Prefect ran is what is stored
        stored = sorted(t.reference for t in run.initiated_runs.filter(reference_type="prefect_task_run_id"))
        assert stored == sorted(str(t.id) for t in read_all_task_runs(run.reference))
        assert len(stored) == tasks
    assert ln.Run.filter(reference_type="prefect_task_run_id").count() == processes * flows * tasks
    assert ln.Transform.filter(key="busy:busy").count() == 1
    assert ln.Transform.filter(key="busy:busy#inc").count() == 1


def test_lock_files_beside_the_flow_are_part_of_its_environment(store, tmp_path, monkeypatch):
    import importlib.util
    import subprocess

    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "uv.lock").write_text("version = 1\n")
    (project / "pipeline.py").write_text(
        "from prefect import flow\n"
        "from flowprov.integrations.prefect import tracked\n\n"
        "@tracked\n@flow\ndef locked() -> int:\n    return 7\n"
    )
    spec = importlib.util.spec_from_file_location("locked_pipeline", project / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)  # the lock file is found at the flow's git root, not the working dir
    assert module.locked() == 7
    run = ln.Run.get(transform__key__endswith=":locked", reference_type="prefect_flow_run_id")
    assert run.environment is not None
    [lock] = [ln.Artifact.get(uid) for uid in run.aux["environment_files"]]
    assert Path(lock.path).name == "uv.lock" and lock.uri == (project / "uv.lock").as_uri()
