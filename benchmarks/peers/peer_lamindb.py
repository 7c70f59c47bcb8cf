"""lamindb's side of the side-by-side benchmark (run with benchmarks/.venvs/lamindb).

A local SQLite instance made with `lamin init --storage DIR`; settings and cache live inside the
store directory so nothing touches the user's own lamindb setup. lamindb works offline only after
`ln.setup.settings.instance._is_on_hub = False` right after import: without it `ln.track()`,
`ln.finish()` and registering a file outside the storage root try the network and fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from peer_base import REFERENCE_TYPE, Peer, main, run_params, run_reference


class LamindbPeer(Peer):
    name = "lamindb"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        os.environ["LAMIN_SETTINGS_DIR"] = str(store / "lamin-settings")
        os.environ["LAMIN_CACHE_DIR"] = str(store / "lamin-cache")
        os.environ.setdefault("LAMIN_TESTING", "false")

    def version(self) -> str:
        from importlib.metadata import version

        return version("lamindb")

    def init_store(self) -> None:
        lamin = Path(sys.executable).parent / "lamin"
        subprocess.run([str(lamin), "init", "--storage", str(self.store / "storage")], check=True, stdout=subprocess.DEVNULL)

    def connect(self) -> None:
        import lamindb as ln

        ln.setup.settings.instance._is_on_hub = False
        self.ln = ln
        ln.Run.filter().count()

    def apply_option(self, option: str) -> None:
        if option == "search_names=off":
            self.ln.settings.creation.search_names = False
        else:
            super().apply_option(option)

    def open_transform(self) -> None:
        ln = self.ln
        self.transform = ln.Transform.filter(key="bench/pipeline").first() or ln.Transform(key="bench/pipeline", kind="pipeline").save()

    def create_run(self, i: int) -> None:
        self.ln.Run(self.transform, reference=run_reference(i), reference_type=REFERENCE_TYPE, params=run_params(i)).save()

    def create_runs_bulk(self, n: int, start: int) -> None:
        ln = self.ln
        ln.save([ln.Run(self.transform, reference=run_reference(i), reference_type=REFERENCE_TYPE, params=run_params(i)) for i in range(start, start + n)])

    def track_finish(self) -> None:
        self.ln.track()
        self.ln.finish()

    def register_file(self, path: Path) -> None:
        self.ln.Artifact(path, key=f"bench/{path.name}").save()

    def runs_by_reference(self, reference: str) -> Any:
        return self.ln.Run.filter(reference=reference).to_dataframe(limit=None)

    def runs_by_param(self, group: str) -> Any:
        return self.ln.Run.filter(params__group=group).to_dataframe(limit=None)

    def build_chain(self, depth: int, workdir: Path) -> Any:
        ln = self.ln
        step = ln.Transform(key="bench/step", kind="pipeline").save()
        upstream_output = None
        for i in range(depth):
            run = ln.Run(step, name=f"step {i}").save()
            if upstream_output is not None:
                run.input_artifacts.add(upstream_output)
            path = workdir / f"lamindb-{depth}-{i}.txt"
            path.write_text(f"output of step {i} of {depth}\n")
            upstream_output = ln.Artifact(path, key=f"chain/{path.name}", run=run).save()
        return upstream_output

    def walk_lineage(self, start: Any) -> int:
        # what view_lineage() walks before it draws: one query per run per level
        from lamindb.models.has_parents import _get_all_parent_runs

        edges = _get_all_parent_runs(start)
        return len({run.id for edge in edges for run in edge if isinstance(run, self.ln.Run)})

    def count_runs(self) -> int:
        return self.ln.Run.filter(reference_type=REFERENCE_TYPE).count()


if __name__ == "__main__":
    main(LamindbPeer)
