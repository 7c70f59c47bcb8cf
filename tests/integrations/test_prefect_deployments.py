"""`@tracked` flows run by Prefect's own runners, on the session's Prefect server (issue 21):
`flow.serve()` (a run completed, started by `run_deployment` from a tracked flow; one cancelled;
one killed with kill -9; and a direct call of the same flow), and a process work pool's
`prefect worker start` (completed, cancelled and killed, on each store).

One served process and one worker process for the module (and one xdist group, so neither is
started twice): every case is started at once and the assertions share them. The crash and
cancellation hooks run in a process that never opened the record (the serving process; for the
worker, a hook process Prefect starts beside it): they write the end onto the stored run (same
transform, Prefect's own end time).

The served runs use SQLite only: a served flow's runs all get the serving process's environment
(`serve()` ignores job variables), so a PostgreSQL variant would need a second served process;
the worker's runs choose their store per run (job variables' `env`), and cover the same
hooks-in-another-process path on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import (
    drop_pg_schema,
    new_pg_schema_url,
    pg_problem,
    require_module,
    require_pg,
    set_prefect_test_env,
)

set_prefect_test_env()
require_module("prefect")
pytestmark = pytest.mark.xdist_group("prefect-deployments")

import flowprov as ln  # noqa: E402

PIPELINE = """
import os, time
from pathlib import Path
from prefect import flow, task
from prefect.runtime import flow_run
from flowprov.integrations.prefect import tracked


@task
def step(x: int) -> int:
    return x + 1


@tracked
@flow
def served(mode: str = "ok") -> int:
    total = step(1) + step(2)
    if mode != "ok":  # wait to be cancelled or killed
        Path(os.environ["PIDS"], mode).write_text(f"{os.getpid()} {flow_run.id}")
        time.sleep(600)
    return total


if __name__ == "__main__":
    served.serve(name="svc", limit=4)
"""


def _wait(what: str, check, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"gave up waiting for {what}")


def _deployment_ready(api) -> bool:
    try:
        api.read_deployment_by_name("served/svc")
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def served(prefect_api, tmp_path_factory):
    """The served flow's store, folder and the flow run ids of each case, after all have ended."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    from flowprov.integrations.prefect import tracked
    from prefect import flow

    work = tmp_path_factory.mktemp("served")
    (work / "pids").mkdir()
    (work / "pipeline.py").write_text(PIPELINE)
    url = f"sqlite:///{work / 'store.db'}"
    ln.connect(url)
    env = {**os.environ, "FLOWPROV_DB": url, "PREFECT_API_URL": prefect_api, "PIDS": str(work / "pids")}
    env.update(PREFECT_RUNNER_POLL_FREQUENCY="1", PREFECT_LOGGING_LEVEL="WARNING")
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    runner = subprocess.Popen(
        [sys.executable, "pipeline.py"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        with get_client(sync_client=True) as api:
            _wait("the deployment", lambda: _deployment_ready(api))
        started = {
            mode: run_deployment("served/svc", parameters={"mode": mode}, timeout=0) for mode in ("cancel", "kill")
        }

        @tracked(db=url)
        @flow
        def starter() -> str:  # run_deployment from a tracked flow: the child is linked to it
            return str(run_deployment("served/svc", parameters={"mode": "ok"}, poll_interval=1, timeout=240).id)

        child = starter()
        pids = {
            m: _wait(f"the {m} run", lambda m=m: (work / "pids" / m).is_file() and (work / "pids" / m).read_text())
            for m in started
        }
        with get_client(sync_client=True) as api:
            api.set_flow_run_state(started["cancel"].id, Cancelling(message="cancelled by the test"), force=True)
        os.kill(int(pids["kill"].split()[0]), signal.SIGKILL)
        ids = {"ok": child, **{m: str(r.id) for m, r in started.items()}}
        store = ln.connect(url)

        def ended() -> bool:
            store.session.expunge_all()
            runs = ln.Run.filter(reference_type="prefect_flow_run_id", reference__in=list(ids.values()))
            return runs.count() == 3 and all(r.finished_at is not None for r in runs)

        _wait("the cancelled and the killed run's end in the store", ended)
        with get_client(sync_client=True) as api:
            prefect_runs = {m: api.read_flow_run(i) for m, i in ids.items()}
    except Exception:
        runner.kill()
        print(runner.communicate()[0][-6000:])
        raise
    try:
        yield {"url": url, "work": work, "ids": ids, "prefect": prefect_runs}
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()


def _run(served, mode):
    ln.connect(served["url"]).session.expunge_all()
    return ln.Run.get(reference=served["ids"][mode], reference_type="prefect_flow_run_id")


def test_a_served_run_started_by_run_deployment_is_the_child_of_the_tracked_flow(served):
    child = _run(served, "ok")
    assert child.status == "completed" and child.params.get_values() == {"mode": "ok"}
    parent = child.initiated_by_run
    assert parent is not None and parent.transform.name == "starter"
    assert parent.initiated_runs.filter(reference_type="prefect_task_run_id").count() == 0  # no step for it
    assert sorted(t.transform.name for t in child.initiated_runs.all()) == ["step", "step"]


@pytest.mark.parametrize("mode, state", [("cancel", "Cancelled"), ("kill", "Crashed")])
def test_a_cancelled_or_killed_served_run_keeps_its_record(served, mode, state):
    run, prefect_run = _run(served, mode), served["prefect"][mode]
    assert prefect_run.state.name == state
    assert run.status == "aborted" and run.transform.key == "pipeline:served"
    # the start is the flow process's own (not the runner hook's time); the end is Prefect's
    assert abs((run.started_at - prefect_run.start_time).total_seconds()) < 10
    assert abs((run.finished_at - prefect_run.end_time).total_seconds()) < 10
    assert run.started_at < run.finished_at
    assert sorted(t.transform.name for t in run.initiated_runs.all()) == ["step", "step"]
    assert {t.status for t in run.initiated_runs.all()} == {"completed"}


def test_one_transform_whatever_ran_the_flow(served, monkeypatch):
    import importlib.util

    monkeypatch.chdir(served["work"])
    spec = importlib.util.spec_from_file_location("pipeline", served["work"] / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ln.connect(served["url"])
    assert module.served("ok") == 5  # a direct call
    store = ln.connect(served["url"])
    store.session.expunge_all()
    flows = ln.Run.filter(reference_type="prefect_flow_run_id", transform__name="served").list()
    assert len(flows) == 4 and len({r.transform_id for r in flows}) == 1
    [transform] = ln.Transform.filter(type="pipeline", name="served").list()
    assert transform.key == "pipeline:served" and transform.version_tag is None
    assert not ln.Transform.filter(key__contains="__prefect_loader").exists()
    assert {t.key for t in ln.Transform.filter(type="step")} == {"pipeline:served#step"}


# -- a process work pool and `prefect worker start` ------------------------------------------
POOL = "flowprov-process"
WORKER_MODES = {"ok": "Completed", "cancel": "Cancelled", "kill": "Crashed"}  # mode -> final state


def _worker_stores(work) -> tuple[dict[str, str], str | None]:
    """The stores the worker's runs write to (PostgreSQL when it answers) and the PG schema."""
    stores, schema = {"sqlite": f"sqlite:///{work / 'store.db'}"}, None
    if pg_problem() is None:
        schema, stores["postgresql"] = new_pg_schema_url()
    return stores, schema


def _start_worker(work, prefect_api) -> subprocess.Popen:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as api:
        api.create_work_pool(WorkPoolCreate(name=POOL, type="process", base_job_template=template), overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_WORKER_QUERY_SECONDS": "1"}
    env.update(PREFECT_LOGGING_LEVEL="WARNING")
    for name in ("FLOWPROV_DB", "FLOWPROV_INITIATED_BY_RUN", "PIDS"):
        env.pop(name, None)  # every run names its store and folder (job variables)
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"]
    with (work / "worker.log").open("w") as log:  # the worker's child keeps its own handle
        return subprocess.Popen([*command, "--limit", "6"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)


def _worker_runs(work, stores: dict[str, str]) -> tuple[dict[str, dict[str, str]], dt.datetime]:
    """Start every case on every store at once; cancel and kill once they run: the flow run ids
    and when the test cancelled and killed them."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    from prefect import flow

    deployed = flow.from_source(source=str(work), entrypoint="pipeline.py:served")
    deployed.deploy(name="wk", work_pool_name=POOL, print_next_steps=False, ignore_warnings=True)
    ids = {kind: {} for kind in stores}
    for kind, url in stores.items():
        (work / "pids" / kind).mkdir(parents=True)
        env = {"FLOWPROV_DB": url, "PIDS": str(work / "pids" / kind)}
        for mode in WORKER_MODES:
            run = run_deployment("served/wk", parameters={"mode": mode}, job_variables={"env": env}, timeout=0)
            ids[kind][mode] = str(run.id)
    pids = {
        (kind, m): _wait(f"the {kind} {m} run", lambda f=work / "pids" / kind / m: f.is_file() and f.read_text())
        for kind in stores
        for m in ("cancel", "kill")
    }
    # the completed runs end first: a tracked run starting later would settle the others itself
    for kind, url in stores.items():
        _wait(f"the {kind} completed run", lambda u=url, i=ids[kind]["ok"]: _finished(u, [i]))
    stopped_at = dt.datetime.now(dt.UTC)
    with get_client(sync_client=True) as api:
        for kind in stores:
            api.set_flow_run_state(ids[kind]["cancel"], Cancelling(message="cancelled by the test"), force=True)
    for (_, mode), pid in pids.items():
        if mode == "kill":
            os.kill(int(pid.split()[0]), signal.SIGKILL)
    return ids, stopped_at


def _final_runs(api, ids: dict[str, dict[str, str]]) -> dict[str, dict[str, object]] | None:
    runs = {k: {m: api.read_flow_run(i) for m, i in by_mode.items()} for k, by_mode in ids.items()}
    return runs if all(r.state.is_final() for by_mode in runs.values() for r in by_mode.values()) else None


def _finished(url: str, references: list[str]) -> bool:
    store = ln.connect(url)
    store.session.expunge_all()
    runs = ln.Run.filter(reference_type="prefect_flow_run_id", reference__in=references)
    return runs.count() == len(references) and all(r.finished_at is not None for r in runs)


@pytest.fixture(scope="module")
def worker(prefect_api, tmp_path_factory):
    """One worker on a process work pool, a deployment of the served flow's file from a local
    folder; per store, a run completed, one cancelled and one killed. The stores, the flow run
    ids, Prefect's view of each run and when the test cancelled and killed them."""
    from prefect.client.orchestration import get_client

    work = tmp_path_factory.mktemp("worker")
    (work / "pipeline.py").write_text(PIPELINE)
    stores, schema = _worker_stores(work)
    worker = _start_worker(work, prefect_api)
    try:
        ids, stopped_at = _worker_runs(work, stores)
        for kind, url in stores.items():
            _wait(
                f"the {kind} cancelled and killed runs' end", lambda u=url, k=kind: _finished(u, list(ids[k].values()))
            )
        with get_client(sync_client=True) as api:  # the worker marks a run Cancelled after its hooks
            prefect_runs = _wait("Prefect's final states", lambda: _final_runs(api, ids))
            states = {k: {m: api.read_flow_run_states(i) for m, i in ids[k].items()} for k in stores}
        yield {"stores": stores, "ids": ids, "prefect": prefect_runs, "states": states, "stopped_at": stopped_at}
    except Exception:
        print((work / "worker.log").read_text()[-6000:])
        raise
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        if schema is not None:
            from flowprov.core.store.connection import disconnect_all

            disconnect_all()
            drop_pg_schema(schema)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_worker_runs_completed_cancelled_or_killed_are_recorded_once(worker, kind):
    """The end facts land on the run the flow's process opened: same transform, the flow process's
    start, Prefect's own end (the hook process writes later), no second run, no loader key."""
    if kind == "postgresql":
        require_pg()
    store = ln.connect(worker["stores"][kind])
    store.session.expunge_all()
    for mode, state in WORKER_MODES.items():
        run, prefect_run = ln.Run.get(reference=worker["ids"][kind][mode]), worker["prefect"][kind][mode]
        assert prefect_run.state.name == state, mode
        assert run.status == ("completed" if mode == "ok" else "aborted"), mode
        assert run.transform.key == "pipeline:served" and run.params.get_values() == {"mode": mode}
        assert not run.aux.get("reconciled"), mode  # the end hook wrote it, not a later reconcile
        assert abs((run.started_at - prefect_run.start_time).total_seconds()) < 10, mode
        stamps = {s.name: s.timestamp for s in worker["states"][kind][mode]}
        if mode == "cancel":  # the hook's Cancelling state is made once the worker stopped the process,
            # after the requested Cancelling and before the worker marks the run Cancelled
            assert stamps["Cancelling"] <= run.finished_at <= stamps["Cancelled"], (run.finished_at, stamps)
        else:  # Prefect's time, not the (later) hook process's
            assert abs((run.finished_at - stamps[state]).total_seconds()) < 1, (run.finished_at, stamps)
        if mode != "ok":
            assert run.started_at < worker["stopped_at"] < run.finished_at, mode
        steps = run.initiated_runs.all()
        assert sorted(t.transform.name for t in steps) == ["step", "step"], mode
        assert {t.status for t in steps} == {"completed"}, mode
    assert ln.Run.filter(reference_type="prefect_flow_run_id").count() == 3
    [transform] = ln.Transform.filter(type="pipeline").list()
    assert transform.key == "pipeline:served" and transform.version_tag is None  # no tag (version: the uid suffix)
    assert not ln.Transform.filter(key__contains="__prefect_loader").exists()
    assert {t.key for t in ln.Transform.filter(type="step")} == {"pipeline:served#step"}
