"""Every adapter passes the same conformance suite (tests/integrations/conformance.py)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_module
from tests.integrations.conformance import AdapterConformance, Execution
from tests.integrations.nextflow_stand_in import install_stand_in


def _env(store_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "FLOWPROV_DB": store_url, **extra}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    return env


class SnakemakeConformance(AdapterConformance):
    reference_type = "snakemake_workflow_id"
    step_reference_type = "snakemake_job_id"
    extra_args: tuple[str, ...] = ()
    hooks = True

    def execute(self, store_url, workdir, *, fail=False, again=False):
        require_module("snakemake")  # here, not at import: the Nextflow class must not need Snakemake
        from tests.integrations.test_snakemake import HOOKS, SNAKEMAKE, make_workflow

        root = workdir / "wf"
        if not again:
            make_workflow(root, hooks=HOOKS if self.hooks else "")
        result = subprocess.run(
            [SNAKEMAKE, "-c2", *self.extra_args, *(["--keep-going"] if fail else [])],
            cwd=root,
            env=_env(store_url, FAIL_SAMPLE="b" if fail else ""),
            capture_output=True,
            text=True,
            timeout=300,
        )
        logs = sorted((root / ".snakemake" / "log").glob("*.log"))
        reference = ""
        if logs:
            text = logs[0 if not again else -1].read_text()
            reference = text.split("Workflow ID: ", 1)[1].split()[0] if "Workflow ID: " in text else ""
        steps = 3 if fail else 5  # with a failing sample, `summary` and `all` never run; copy b fails
        return Execution(result.returncode, reference, steps, result.stderr)


class TestSnakemakeHooks(SnakemakeConformance):
    pass


class TestSnakemakeLoggerPlugin(SnakemakeConformance):
    extra_args = ("--logger", "flowprov")
    hooks = False


class TestNextflowWrapper(AdapterConformance):
    reference_type = "nextflow_session_id"
    step_reference_type = "nextflow_task_hash"

    def execute(self, store_url, workdir, *, fail=False, again=False):
        bin_dir = install_stand_in(workdir / "bin")
        launch = workdir / "launch"
        launch.mkdir(exist_ok=True)
        # each launch directory is its own Nextflow session (ingesting it again: the same session)
        session = str(uuid.uuid5(uuid.NAMESPACE_URL, str(workdir)))
        env = _env(store_url, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", STAND_IN_SESSION=session)
        if again:  # ingest the same launch once more, as a user re-running ingest-nextflow-trace would
            trace = sorted(launch.glob("trace-*.txt"))[-1]
            name = trace.name.split("-")[1]
            cmd = [sys.executable, "-m", "flowprov.cli", "nextflow", "ingest", str(trace), "--run-name", name]
        else:
            cmd = [
                sys.executable,
                "-m",
                "flowprov.cli",
                "nextflow",
                "run",
                "nf-core/hello",
                *(["--fail"] if fail else []),
            ]
        result = subprocess.run(cmd, cwd=launch, env=env, capture_output=True, text=True, timeout=120)
        return Execution(result.returncode, session, 2, result.stderr)


@functools.cache
def prefect_flow():
    """A small flow (two tasks writing files, a third that fails on request), made on first use so
    this module needs no Prefect when its other classes run."""
    from prefect.runtime import flow_run

    from prefect import flow, task

    @task
    def write(path: str, text: str) -> str:
        Path(path).write_text(text)
        return path  # a returned path is the task run's output

    @task
    def explode(path: str) -> None:
        raise ValueError(f"cannot use {path}")

    @flow
    def conform(root: str, fail: bool = False) -> str:
        Path(root, "flow_run_id").write_text(str(flow_run.id))
        first = write(f"{root}/a.txt", f"a of {root}")
        second = write.submit(f"{root}/b.txt", f"b of {root}").result()
        if fail:
            explode(first)
        return second

    return conform


def record_again(tracked_flow: Any, flow_run_id: str) -> None:
    """The end hook once more, where the run was not opened (as in a deployment's runner)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    [hook] = [h for h in tracked_flow.on_completion_hooks if getattr(h, "_flowprov_hook", False)]
    hook(tracked_flow, run, run.state)


class TestPrefect(AdapterConformance):
    """In the test's process (a Prefect flow is a function call; importing Prefect in a child
    process costs seconds): the exit code is 0 when the flow returns, 1 when it raises, and the
    real process exit status is checked in tests/reliability/test_prefect_spool.py."""

    reference_type = "prefect_flow_run_id"
    step_reference_type = "prefect_task_run_id"

    @pytest.fixture(autouse=True)
    def _prefect_server(self, prefect_api):
        return prefect_api

    def execute(self, store_url, workdir, *, fail=False, again=False):
        from flowprov.integrations.prefect import tracked

        workdir.mkdir(parents=True, exist_ok=True)
        tracked_flow = tracked(prefect_flow(), db=store_url)
        stderr, exit_code = io.StringIO(), 0
        with contextlib.redirect_stderr(stderr):
            if again:
                record_again(tracked_flow, (workdir / "flow_run_id").read_text())
            else:
                try:
                    tracked_flow(str(workdir), fail=fail)
                except ValueError:
                    exit_code = 1
        reference = (workdir / "flow_run_id").read_text()
        return Execution(exit_code, reference, 3 if fail else 2, stderr.getvalue())
