"""flowprov's side of the side-by-side benchmark (run with the project's own .venv)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peer_base import REFERENCE_TYPE, Peer, main, run_params, run_reference


class FlowprovPeer(Peer):
    name = "flowprov"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        self.db = store / "flowprov.db"
        # registering the same file again must hash it again, as the other tools do
        os.environ["FLOWPROV_HASH_CACHE"] = "off"
        os.environ["FLOWPROV_DB"] = str(self.db)

    def version(self) -> str:
        import flowprov

        return flowprov.__version__

    def init_store(self) -> None:
        import flowprov as ln

        ln.connect(self.db)
        ln.Run.filter().count()

    def connect(self) -> None:
        import flowprov as ln

        self.ln = ln
        ln.connect(self.db)
        ln.Run.filter().count()

    def open_transform(self) -> None:
        self.transform = self.ln.Transform(key="bench/pipeline", type="pipeline").save()

    def create_run(self, i: int) -> None:
        self.ln.Run(self.transform, reference=run_reference(i), reference_type=REFERENCE_TYPE, params=run_params(i)).save()

    def create_runs_bulk(self, n: int, start: int) -> None:
        ln = self.ln
        ln.save([ln.Run(self.transform, reference=run_reference(i), reference_type=REFERENCE_TYPE, params=run_params(i)) for i in range(start, start + n)])

    def track_finish(self) -> None:
        self.ln.track()
        self.ln.finish()

    def register_file(self, path: Path) -> None:
        self.ln.Artifact(path, run=False).save()

    def runs_by_reference(self, reference: str) -> Any:
        return self.ln.Run.filter(reference=reference).df(limit=None)

    def runs_by_param(self, group: str) -> Any:
        return self.ln.Run.filter(params__group=group).df(limit=None)

    def build_chain(self, depth: int, workdir: Path) -> Any:
        ln = self.ln
        step = ln.Transform(key="bench/step", type="step").save()
        upstream_output = None
        for i in range(depth):
            run = ln.Run(step, name=f"step {i}").save()
            if upstream_output is not None:
                run.input_artifacts.add(upstream_output)
            path = workdir / f"flowprov-{depth}-{i}.txt"
            path.write_text(f"output of step {i} of {depth}\n")
            upstream_output = ln.Artifact(path, run=run).save()
        return upstream_output

    def walk_lineage(self, start: Any) -> int:
        from flowprov.lineage import upstream

        return len(upstream(start).runs)

    def count_runs(self) -> int:
        return self.ln.Run.filter(reference_type=REFERENCE_TYPE).count()


if __name__ == "__main__":
    main(FlowprovPeer)
