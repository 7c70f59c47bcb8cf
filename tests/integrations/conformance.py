"""The conformance suite every adapter passes: the same expectations, whatever the manager.

An adapter's test module subclasses `AdapterConformance` and implements `execute()`, which runs
one real execution (a Snakemake workflow, a Nextflow trace ingest, ...) against a store and
returns what the manager itself says about it. The inherited tests then check, on both stores:
one run per execution with the manager's reference, one child run per step, files as artifacts,
recording twice adds nothing, a failed execution is errored, and a broken store does not change
the workflow's own exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flowprov as ln


@dataclass
class Execution:
    """What the workflow manager reports about one execution (the ground truth for the checks)."""

    exit_code: int
    reference: str  # the manager's own run id
    steps: int  # steps that ran (or were recorded) in this execution
    stderr: str = ""


class AdapterConformance:
    reference_type: str = ""
    step_reference_type: str = ""

    def execute(self, store_url: str, workdir: Path, *, fail: bool = False, again: bool = False) -> Execution:
        """Run one execution; `again` repeats the previous one (same workdir, same manager run)."""
        raise NotImplementedError

    def _counts(self) -> tuple[int, int, int]:
        return ln.Run.filter().count(), ln.Transform.filter().count(), ln.Artifact.filter().count()

    def test_one_run_per_execution_with_the_managers_reference(self, store_url, tmp_path):
        done = self.execute(store_url, tmp_path)
        assert done.exit_code == 0, done.stderr[-2000:]
        ln.connect(store_url)
        [run] = ln.Run.filter(reference_type=self.reference_type).list()
        assert run.reference == done.reference and len(run.reference_type) <= 25
        assert run.status == "completed" and run.transform.type == "pipeline"
        assert run.started_at is not None and run.started_at.tzinfo is not None

    def test_steps_are_child_runs_of_step_transforms(self, store_url, tmp_path):
        done = self.execute(store_url, tmp_path)
        ln.connect(store_url)
        run = ln.Run.get(reference=done.reference, reference_type=self.reference_type)
        children = run.initiated_runs.all().list()
        assert len(children) == done.steps > 0
        for child in children:
            assert child.reference_type == self.step_reference_type and child.reference
            assert child.transform.type == "step" and child.transform.key.startswith(run.transform.key + "#")
            assert child.name

    def test_recording_twice_adds_nothing(self, store_url, tmp_path):
        self.execute(store_url, tmp_path)
        ln.connect(store_url)
        before = self._counts()
        self.execute(store_url, tmp_path, again=True)
        assert self._counts() == before

    def test_a_failed_execution_is_errored(self, store_url, tmp_path):
        done = self.execute(store_url, tmp_path, fail=True)
        assert done.exit_code != 0
        ln.connect(store_url)
        run = ln.Run.get(reference=done.reference, reference_type=self.reference_type)
        assert run.status == "errored"
        assert run.initiated_runs.filter(status="errored").count() >= 1

    def test_a_broken_store_leaves_the_exit_code(self, tmp_path):
        broken = "postgresql://nobody@127.0.0.1:1/nowhere"
        assert self.execute(broken, tmp_path / "ok").exit_code == 0
        assert self.execute(broken, tmp_path / "failing", fail=True).exit_code != 0
