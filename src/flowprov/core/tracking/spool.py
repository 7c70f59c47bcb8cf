"""Spool files: what a Recorder could not write, waiting in `paths.spool_dir()` for a replay.

A spool file holds everything the Recorder had buffered — transforms, runs (params, aux, status,
times), input/output files with the hashes taken when the workflow ran, environment and report —
and names parents by reference (or by uid), never by a store's row id alone, so it can be written
into the store later or into another one. A run without a reference gets its uid at spool time,
so replaying the same file twice finds it instead of adding it again.

A pending file lies in the spool folder; once replayed it moves to `done/` beside it, so
`flowprov spool replay` with no argument writes each pending file once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.paths import spool_dir

if TYPE_CHECKING:
    from flowprov.core.tracking.recorder import Recorder, RunHandle

FORMAT = 2  # 1: flowprov 0.1 (no environment, report, uids)


@dataclass
class SpoolFile:
    path: Path
    runs: int
    store: str | None
    created: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "runs": self.runs, "store": self.store, "created": self.created.isoformat()}


# -- writing a spool file --------------------------------------------------------------------


def write_spool(recorder: Recorder, directory: Path | None = None) -> Path:
    """Save the recorder's unwritten runs as JSON; the file's path."""
    from flowprov.core.uid import base62

    base = directory or spool_dir()
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    path = base / f"spool-{stamp}-{os.getpid()}.json"
    pending = [h for h in recorder.handles if h.dirty]
    for h in pending:
        if h.reference is None and h.uid is None and h.run_id is None:
            h.uid = base62(16)
    store = getattr(recorder._store, "display_url", None)
    document = {"format": FORMAT, "store": store, "runs": [_entry(h) for h in pending]}
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(document, indent=1, default=str))
    tmp.replace(path)  # a reader never sees half a file
    return path


def _key(h: RunHandle) -> list[Any]:
    return [h.reference_type, h.reference, h.name] if h.reference is not None else ["uid", h.uid, None]


def _entry(h: RunHandle) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "transform": asdict(h.transform),
        "reference": h.reference,
        "reference_type": h.reference_type,
        "name": h.name,
        "uid": h.uid,
        "run_id": h.run_id,  # set when an earlier flush of the same recorder stored it
        "parent": _key(h.parent) if h.parent is not None else None,
        "parent_run_id": h.parent_run_id,
        "parent_run_uid": h.parent_run_uid,
        "params": h.params,
        "aux": h.aux,
        "aux_dropped": sorted(h.aux_dropped),
        "status": h.status,
        "started_at": iso(h.started_at or h.opened_at),
        "finished_at": iso(h.finished_at),
        "inputs": [asdict(f) for f in h.inputs],
        "outputs": [asdict(f) for f in h.outputs],
        "environment": asdict(h.environment) if h.environment else None,
        "environment_files": [asdict(f) for f in h.environment_files],
        "report": asdict(h.report) if h.report else None,
    }


# -- reading and replaying -------------------------------------------------------------------


def read_spool(path: Path) -> dict[str, Any]:
    from flowprov.core.tracking.recorder import RecorderError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RecorderError(f"{path}: bytes that are not UTF-8 at offset {exc.start}: not a spool file") from None
    except json.JSONDecodeError as exc:
        raise RecorderError(f"{path}:{exc.lineno}: not a spool file (not valid JSON: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise RecorderError(f"{path}: not a spool file (no list of runs)")
    return data


def replay_spool(path: Path, store: Any = None) -> tuple[int, int]:
    """Write a spool file to a store in one transaction; (new runs, runs in the file).

    Files are not hashed again: the spool keeps the hashes taken when the workflow ran.
    """
    from flowprov.core.tracking.recorder import Recorder

    data = read_spool(Path(path))
    rec = Recorder(store)
    same_store = data.get("store") == rec.store.display_url
    handles: dict[tuple[Any, ...], RunHandle] = {}
    for item in data["runs"]:
        h = _reopen(rec, item, handles, same_store)
        handles[tuple(_key(h))] = h
    rec.flush()
    return rec.inserted, len(handles)


def _reopen(rec: Recorder, item: dict[str, Any], handles: dict[tuple[Any, ...], RunHandle], same: bool) -> RunHandle:
    from flowprov.core.tracking.recorder import FileSpec, TransformSpec

    def when(text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text) if text else None

    parent = handles.get(tuple(item["parent"])) if item.get("parent") else None
    h = rec.open_run(
        TransformSpec(**item["transform"]),
        reference=item["reference"],
        reference_type=item["reference_type"],
        name=item["name"],
        parent=parent if parent is not None else _stored_parent(rec, item, same),
        started_at=when(item["started_at"]),
        status=item["status"],
        aux=item["aux"],
    )
    h.uid = item.get("uid")
    if same and item.get("run_id") is not None:  # stored by an earlier flush of the same recorder
        h.run_id, h.stored = item["run_id"], True
    h.params.update(item["params"])
    h.aux_dropped.update(item.get("aux_dropped") or [])
    h.finished_at = when(item["finished_at"])
    h.inputs = [FileSpec(**f) for f in item["inputs"]]
    h.outputs = [FileSpec(**f) for f in item["outputs"]]
    h.environment = FileSpec(**item["environment"]) if item.get("environment") else None
    h.report = FileSpec(**item["report"]) if item.get("report") else None
    h.environment_files = [FileSpec(**f) for f in item.get("environment_files") or []]
    if not same:  # row ids of the spooling store mean nothing here: files are matched by content
        h.inputs = [f for f in h.inputs if f.content]
        h.outputs = [f for f in h.outputs if f.content]
        h.environment_files = [f for f in h.environment_files if f.content]
        for spec in [*h.inputs, *h.outputs, *h.environment_files, h.environment, h.report]:
            if spec is not None:
                spec.artifact_id = None
        h.environment = h.environment if h.environment is None or h.environment.content else None
        h.report = h.report if h.report is None or h.report.content else None
    return h


def _stored_parent(rec: Recorder, item: dict[str, Any], same_store: bool) -> Any:
    """A parent stored before the spool was written: by uid in any store, by id in the same one."""
    from flowprov.core.registry import Run

    uid = item.get("parent_run_uid")
    if uid:
        found = Run.using(rec.store).filter(uid=uid).first()
        if found is not None:
            return found
    return item.get("parent_run_id") if same_store else None


# -- the spool folder ------------------------------------------------------------------------


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
    new, total = replay_spool(path, store)
    if path.resolve().parent == spool_dir().resolve():
        done = path.parent / "done"
        done.mkdir(exist_ok=True)
        path.replace(done / path.name)
    return new, total
