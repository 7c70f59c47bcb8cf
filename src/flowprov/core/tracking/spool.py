"""Spool files: what a Recorder could not write, waiting in `paths.spool_dir()` for a replay.

A pending file lies in the spool folder; once replayed it moves to `done/` beside it, so
`flowprov spool replay` with no argument writes each pending file once. Replaying is idempotent
anyway (runs are matched by reference, or by the uid given at spool time), so a second replay of
the same file writes no new run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowprov.core.paths import spool_dir


@dataclass
class SpoolFile:
    path: Path
    runs: int
    store: str | None
    created: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "runs": self.runs, "store": self.store, "created": self.created.isoformat()}


def pending_spool_files(directory: Path | None = None) -> list[SpoolFile]:
    """The spool files not replayed yet, oldest first (unreadable ones too, with 0 runs)."""
    folder = directory or spool_dir()
    found = []
    for path in sorted(folder.glob("spool-*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            runs, store = len(data.get("runs", [])), data.get("store")
        except (OSError, ValueError, AttributeError):
            runs, store = 0, None
        created = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        found.append(SpoolFile(path, runs, store, created))
    return found


def replay_spool_file(path: Path, store: Any = None) -> tuple[int, int]:
    """Write one spool file; (new runs, runs in the file). A pending file then moves to done/."""
    from flowprov.core.tracking.recorder import replay_spool

    new, total = replay_spool(path, store)
    if path.resolve().parent == spool_dir().resolve():
        done = path.parent / "done"
        done.mkdir(exist_ok=True)
        path.replace(done / path.name)
    return new, total
