"""The conformance suite every adapter passes: the same expectations, whatever the manager.

An adapter's test module subclasses `AdapterConformance` and implements `execute()`, which runs
one real execution (a Snakemake workflow, a Nextflow trace ingest, ...) against a store and
returns what the manager itself says about it. The inherited tests then check, on both stores:
one run per execution with the manager's reference, one child run per step, files as artifacts,
recording twice adds nothing (after the first recording stored runs and files), a failed
execution is errored, and a broken store leaves the workflow's own exit code while its runs go
to a spool file that `flowprov spool replay` writes exactly, once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app

BROKEN_STORE = "postgresql://nobody@127.0.0.1:1/nowhere"  # a closed port


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

    def test_one_run_per_execution_with_its_steps_as_child_runs(self, store_url, tmp_path):
        # one execution for both checks: each costs seconds of a real workflow manager
        done = self.execute(store_url, tmp_path)
        assert done.exit_code == 0, done.stderr[-2000:]
        ln.connect(store_url)
        [run] = ln.Run.filter(reference_type=self.reference_type).list()
        assert run.reference == done.reference and len(run.reference_type) <= 25
        assert run.status == "completed" and run.transform.type == "pipeline"
        assert run.started_at is not None and run.started_at.tzinfo is not None
        children = run.initiated_runs.all().list()
        assert len(children) == done.steps > 0
        for child in children:
            assert child.reference_type == self.step_reference_type and child.reference
            assert child.transform.type == "step" and child.transform.key.startswith(run.transform.key + "#")
            assert child.name

    def _files_linked(self, run: ln.Run) -> int:
        """Artifacts the execution's runs read or wrote."""
        runs = [run, *run.initiated_runs.all()]
        return sum(r.input_artifacts.count() + r.output_artifacts.count() for r in runs)

    def test_recording_twice_adds_nothing(self, store_url, tmp_path):
        done = self.execute(store_url, tmp_path)
        assert done.exit_code == 0, done.stderr[-2000:]
        ln.connect(store_url)
        run = ln.Run.get(reference=done.reference, reference_type=self.reference_type)
        assert run.initiated_runs.count() == done.steps > 0
        assert self._files_linked(run) > 0  # the first recording stored files: the check below can fail
        before = self._counts()
        again = self.execute(store_url, tmp_path, again=True)
        assert again.exit_code == 0, again.stderr[-2000:]
        ln.connect(store_url).session.expunge_all()
        assert self._counts() == before
        assert ln.Run.get(reference=done.reference, reference_type=self.reference_type).status == "completed"

    def test_a_failed_execution_is_errored(self, store_url, tmp_path):
        done = self.execute(store_url, tmp_path, fail=True)
        assert done.exit_code != 0
        ln.connect(store_url)
        run = ln.Run.get(reference=done.reference, reference_type=self.reference_type)
        assert run.status == "errored"
        assert run.initiated_runs.filter(status="errored").count() >= 1

    def _replay(self, store_url: str, *files: Path) -> list[tuple[int, int]]:
        """`flowprov spool replay` into the store: (new runs, runs) per file."""
        result = CliRunner().invoke(app, ["spool", "replay", *map(str, files), "--db", store_url])
        assert result.exit_code == 0, result.output
        return [(int(n), int(t)) for n, t in re.findall(r": (\d+) new run\(s\) of (\d+) written", result.stdout)]

    def test_a_broken_store_leaves_the_exit_code_and_spools_the_runs(self, store_url, tmp_path):
        ok = self.execute(BROKEN_STORE, tmp_path / "ok")
        failing = self.execute(BROKEN_STORE, tmp_path / "failing", fail=True)
        assert ok.exit_code == 0, ok.stderr[-2000:]
        assert failing.exit_code != 0
        spool = Path(os.environ["XDG_DATA_HOME"]) / "flowprov" / "spool"
        pending = sorted(spool.glob("spool-*.json"))
        assert pending, "no spool file was written"
        for done in (ok, failing):  # each execution names the file its runs wait in
            named = [p for p in pending if str(p) in done.stderr]
            assert named and "flowprov: error:" in done.stderr, done.stderr[-2000:]
        first = self._replay(store_url)
        assert len(first) == len(pending) and sum(new for new, _ in first) == sum(total for _, total in first) > 0
        ln.connect(store_url)
        for done, status in ((ok, "completed"), (failing, "errored")):
            [run] = ln.Run.filter(reference=done.reference, reference_type=self.reference_type, status=status)
            assert run.initiated_runs.count() == done.steps > 0
        assert ln.Run.filter(reference_type=self.step_reference_type).count() == ok.steps + failing.steps
        second = self._replay(store_url, *(spool / "done" / p.name for p in pending))
        assert [new for new, _ in second] == [0] * len(pending)
