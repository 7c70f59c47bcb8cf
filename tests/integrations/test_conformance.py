"""Every adapter passes the same conformance suite (tests/integrations/conformance.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import require_module
from tests.integrations.conformance import AdapterConformance, Execution
from tests.integrations.nextflow_stand_in import SESSION, install_stand_in


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
        steps = 4 if fail else 5  # with a failing sample, `summary` and `all` never run; copy b fails
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
        env = _env(store_url, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
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
        return Execution(result.returncode, SESSION, 2, result.stderr)
