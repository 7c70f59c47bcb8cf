"""`@tracked` flows run by Prefect's own runner (`flow.serve()`), on the session's Prefect server:
a run completed (started by `run_deployment` from a tracked flow), one cancelled and one killed
(kill -9 of the flow run's process), and a direct call of the same flow (issue 21).

One served process for the module: every case is started at once and the assertions share them.
The runner's crash and cancellation hooks run in the runner's process, which never opened the
record: they write the end onto the stored run (same transform, Prefect's own end time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import require_module, set_prefect_test_env

set_prefect_test_env()
require_module("prefect")

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
