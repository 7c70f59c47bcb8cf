"""flowprov's side of the side-by-side benchmark (run with the project's own .venv)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lamin_style import LaminStylePeer
from peer_base import main


class FlowprovPeer(LaminStylePeer):
    name = "flowprov"
    transform_kind_field = "type"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        self.db = store / "flowprov.db"
        # registering the same file again must hash it again, as the other tools do
        os.environ["FLOWPROV_HASH_CACHE"] = "off"
        os.environ["FLOWPROV_DB"] = str(self.db)

    def version(self) -> str:
        import flowprov

        return flowprov.__version__

    def import_module(self) -> Any:
        import flowprov as ln

        ln.connect(self.db)
        return ln

    def init_store(self) -> None:
        self.connect()

    def register_file(self, path: Path) -> None:
        self.ln.Artifact(path, run=False).save()

    def walk_lineage(self, start: Any) -> int:
        from flowprov.lineage import upstream

        return len(upstream(start).runs)


if __name__ == "__main__":
    main(FlowprovPeer)
