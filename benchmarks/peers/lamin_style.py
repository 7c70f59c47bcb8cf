"""The workloads written once for the tools with lamindb's API (lamindb itself and flowprov, whose
records follow lamindb's registries): each peer passes its module as `self.ln` and fills in the
few places where the two differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peer_base import REFERENCE_TYPE, Peer, run_params, run_reference


class LaminStylePeer(Peer):
    transform_kind_field = "kind"  # lamindb 2 says kind=, flowprov type= (lamindb 1's name)

    def connect(self) -> None:
        self.ln = self.import_module()
        self.ln.Run.filter().count()

    def import_module(self) -> Any:
        raise NotImplementedError

    def new_transform(self, key: str) -> Any:
        ln = self.ln
        return (
            ln.Transform.filter(key=key).first()
            or ln.Transform(key=key, **{self.transform_kind_field: "pipeline"}).save()
        )

    def new_artifact(self, path: Path, run: Any) -> Any:
        return self.ln.Artifact(path, key=f"chain/{path.name}", run=run)

    def open_transform(self) -> None:
        self.transform = self.new_transform("bench/pipeline")

    def _run(self, i: int) -> Any:
        return self.ln.Run(
            self.transform, reference=run_reference(i), reference_type=REFERENCE_TYPE, params=run_params(i)
        )

    def create_run(self, i: int) -> None:
        self._run(i).save()

    def create_runs_bulk(self, n: int, start: int) -> None:
        self.ln.save([self._run(i) for i in range(start, start + n)])

    def track_finish(self) -> None:
        self.ln.track()
        self.ln.finish()

    def runs_by_reference(self, reference: str) -> Any:
        return self.ln.Run.filter(reference=reference).to_dataframe(limit=None)

    def runs_by_param(self, group: str) -> Any:
        return self.ln.Run.filter(params__group=group).to_dataframe(limit=None)

    def build_chain(self, depth: int, workdir: Path) -> Any:
        step = self.new_transform("bench/step")
        upstream_output = None
        for i in range(depth):
            run = self.ln.Run(step, name=f"step {i}").save()
            if upstream_output is not None:
                run.input_artifacts.add(upstream_output)
            path = workdir / f"{self.name}-{depth}-{i}.txt"
            path.write_text(f"output of step {i} of {depth}\n")
            upstream_output = self.new_artifact(path, run).save()
        return upstream_output

    def count_runs(self) -> int:
        return self.ln.Run.filter(reference_type=REFERENCE_TYPE).count()
