"""The workloads every tool in the side-by-side benchmark runs, and the command line that runs one.

Each peer (`peer_flowprov.py`, `peer_lamindb.py`, `peer_mlflow.py`) subclasses `Peer` and is run
by the orchestrator (`benchmarks/bench_peers.py`) with its own tool's interpreter, one process per
measurement, so no tool's imports, caches or settings leak into another's numbers. This file uses
only the standard library because it runs inside every peer's virtual environment.

Every workload prints one JSON object on the last line of stdout. Times come from `time.perf_counter`
around the tool's own calls only; setup (making a store, building data to query) is never timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


# Five params per run: one unique (index), one with ten values (group) for the param query.
def run_params(i: int) -> dict[str, Any]:
    return {
        "index": i,
        "group": f"g{i % 10}",
        "learning_rate": 0.001 * (i % 7 + 1),
        "shuffle": i % 2 == 0,
        "model": "resnet",
    }


def run_reference(i: int) -> str:
    return f"ref-{i:07d}"


REFERENCE_TYPE = "bench_run_id"
QUERY_GROUP = "g3"  # the param value queried: every tenth run
QUERY_REPEATS = 5


class Peer:
    """One tool's way of doing each workload."""

    name = "?"

    def __init__(self, store: Path) -> None:
        self.store = store
        self.first_error: str | None = None

    def version(self) -> str:
        raise NotImplementedError

    def init_store(self) -> None:
        """Make a fresh, empty store (not timed)."""
        raise NotImplementedError

    def connect(self) -> None:
        """Import the tool and open the existing store, ending with one small query that proves it."""
        raise NotImplementedError

    def open_transform(self) -> None:
        """Get or create the transform (lamindb, flowprov) or experiment (MLflow) the runs belong to."""
        raise NotImplementedError

    def create_run(self, i: int) -> None:
        """Create and save run i with its reference and 5 params, on its own."""
        raise NotImplementedError

    def create_runs_bulk(self, n: int, start: int) -> None:
        raise NotImplementedError

    def create_runs(self, n: int, bulk: bool, start: int = 0, checkpoints: frozenset[int] = frozenset()) -> int:
        """Create n runs; return how many failed (one by one, a failure does not stop the rest).

        `self.checkpoint_times[k]` is the time from the start until k runs were created."""
        began = time.perf_counter()
        self.checkpoint_times: dict[int, float] = {}
        self.open_transform()
        if bulk:
            self.create_runs_bulk(n, start)
            return 0
        failed = 0
        for done, i in enumerate(range(start, start + n), start=1):
            try:
                self.create_run(i)
            except Exception as exc:  # counted and reported: the concurrency workload wants them all
                failed += 1
                self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"[:300]
            if done in checkpoints:
                self.checkpoint_times[done] = time.perf_counter() - began
        return failed

    @classmethod
    def has_bulk_path(cls) -> bool:
        """Whether the tool saves many runs in one call (its class overrides create_runs_bulk)."""
        return cls.create_runs_bulk is not Peer.create_runs_bulk

    def track_finish(self) -> None:
        """What a script calls at its start and end."""
        raise NotImplementedError

    def prepare_register_file(self) -> None:
        """Anything the tool needs before a file can be registered (MLflow: a run to log it to)."""

    def register_file(self, path: Path) -> None:
        raise NotImplementedError

    def runs_by_reference(self, reference: str) -> Any:
        """A DataFrame of the runs with this reference."""
        raise NotImplementedError

    def runs_by_param(self, group: str) -> Any:
        """A DataFrame of the runs whose param `group` has this value."""
        raise NotImplementedError

    def build_chain(self, depth: int, workdir: Path) -> Any:
        """depth runs, each reading the previous one's output; returns what `walk_lineage` starts from."""
        raise NotImplementedError

    def walk_lineage(self, start: Any) -> int:
        """Walk upstream from the last output; return how many runs were found."""
        raise NotImplementedError

    def count_runs(self) -> int:
        raise NotImplementedError

    def apply_option(self, option: str) -> None:
        raise ValueError(f"{self.name}: unknown option {option!r}")


def _timed(fn, *args) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def _median_of(fn, *args) -> tuple[float, Any]:
    fn(*args)  # warm-up: the first query pays for imports and statement compilation
    times, value = [], None
    for _ in range(QUERY_REPEATS):
        elapsed, value = _timed(fn, *args)
        times.append(elapsed)
    return statistics.median(times), value


def _rows(frame: Any) -> int:
    return len(frame) if frame is not None else 0


def run_workload(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    workload = args.workload
    if workload == "version":
        return {"version": peer.version(), "bulk": peer.has_bulk_path()}
    if workload == "init":
        peer.init_store()
        return {}
    if workload == "import-connect":
        seconds, _ = _timed(peer.connect)
        return {"seconds": seconds}
    peer.connect()
    for option in args.option or []:
        peer.apply_option(option)
    if workload == "create-runs":
        checkpoints = frozenset(int(k) for k in args.checkpoints.split(",")) if args.checkpoints else frozenset()
        seconds, failed = _timed(peer.create_runs, args.n, args.bulk, args.start, checkpoints)
        return {
            "seconds": seconds,
            "failed": failed,
            "first_error": peer.first_error,
            "checkpoints": peer.checkpoint_times,
        }
    if workload == "track-finish":
        seconds, _ = _timed(peer.track_finish)
        return {"seconds": seconds}
    if workload == "register-file":
        peer.prepare_register_file()
        seconds, _ = _timed(peer.register_file, Path(args.file))
        return {"seconds": seconds}
    if workload == "query":
        by_reference, frame = _median_of(peer.runs_by_reference, run_reference(args.n // 2))
        by_param, frame_param = _median_of(peer.runs_by_param, QUERY_GROUP)
        return {
            "by_reference": by_reference,
            "by_reference_rows": _rows(frame),
            "by_param": by_param,
            "by_param_rows": _rows(frame_param),
        }
    if workload == "lineage":
        start = peer.build_chain(args.n, Path(args.file))
        seconds, found = _median_of(peer.walk_lineage, start)
        return {"seconds": seconds, "runs_found": found}
    if workload == "concurrent-writer":
        # connected and ready: say so, then start when the orchestrator says go (all at once)
        barrier = Path(args.file)
        (barrier / f"ready-{os.getpid()}").touch()
        while not (barrier / "go").exists():
            time.sleep(0.001)
        seconds, failed = _timed(peer.create_runs, args.n, False, args.start)
        return {"seconds": seconds, "failed": failed, "first_error": peer.first_error}
    if workload == "count":
        return {"runs": peer.count_runs()}
    raise SystemExit(f"unknown workload {workload!r}")


def main(peer_class: type[Peer]) -> None:
    parser = argparse.ArgumentParser(description=f"Run one benchmark workload with {peer_class.name}.")
    parser.add_argument(
        "workload",
        help="version, init, import-connect, create-runs, track-finish, register-file, query, lineage, concurrent-writer or count",
    )
    parser.add_argument("--store", type=Path, required=True, help="the directory that holds this tool's store")
    parser.add_argument(
        "--n",
        type=int,
        default=0,
        help="how many runs (create-runs, concurrent-writer), the run count of the store (query), or the depth (lineage)",
    )
    parser.add_argument(
        "--start", type=int, default=0, help="index of the first run created (keeps references unique across writers)"
    )
    parser.add_argument("--bulk", action="store_true", help="create runs through the tool's bulk path")
    parser.add_argument(
        "--checkpoints", default="", help="comma-separated run counts at which create-runs notes the time taken so far"
    )
    parser.add_argument(
        "--file",
        default=None,
        help="the file to register (register-file), a scratch directory (lineage) or the barrier directory (concurrent-writer)",
    )
    parser.add_argument("--option", action="append", help="a tool-specific setting, e.g. search_names=off for lamindb")
    args = parser.parse_args()
    args.store.mkdir(parents=True, exist_ok=True)
    peer = peer_class(args.store.resolve())
    result = run_workload(peer, args)
    sys.stdout.flush()
    # the tools print freely; the orchestrator reads only this last line
    os.write(1, ("\n" + json.dumps(result) + "\n").encode())
