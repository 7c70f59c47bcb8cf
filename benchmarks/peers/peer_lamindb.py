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

from lamin_style import LaminStylePeer
from peer_base import main


class LamindbPeer(LaminStylePeer):
    name = "lamindb"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        os.environ["LAMIN_SETTINGS_DIR"] = str(store / "lamin-settings")
        os.environ["LAMIN_CACHE_DIR"] = str(store / "lamin-cache")

    def version(self) -> str:
        from importlib.metadata import version

        return version("lamindb")

    def init_store(self) -> None:
        lamin = Path(sys.executable).parent / "lamin"
        subprocess.run(
            [str(lamin), "init", "--storage", str(self.store / "storage")], check=True, stdout=subprocess.DEVNULL
        )

    def import_module(self) -> Any:
        import lamindb as ln

        ln.setup.settings.instance._is_on_hub = False
        return ln

    def apply_option(self, option: str) -> None:
        if option == "search_names=off":
            self.ln.settings.creation.search_names = False
        else:
            super().apply_option(option)

    def register_file(self, path: Path) -> None:
        self.ln.Artifact(path, key=f"bench/{path.name}").save()

    def walk_lineage(self, start: Any) -> int:
        # what view_lineage() walks before it draws: one query per run per level
        from lamindb.models.has_parents import _get_all_parent_runs

        edges = _get_all_parent_runs(start)
        return len({run.id for edge in edges for run in edge if isinstance(run, self.ln.Run)})


if __name__ == "__main__":
    main(LamindbPeer)
