"""flowprov side by side with lamindb and MLflow (issue 8): the same workloads, the same machine, one run.

Every measurement is a fresh process of the tool's own interpreter (`peers/peer_<tool>.py`), so
imports, caches and settings never cross between tools; setup (making a store, building the data
a query reads) is never inside the timed part. Each tool's number is the median of `repeats`
measurements; the ratio is flowprov / that tool, so below 1 means flowprov is faster.

Usage: `python benchmarks/bench_peers.py [--quick] [--tools flowprov,lamindb] [--no-install]`
(`make bench` runs it together with the other benchmarks and writes RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import fmt_seconds, note_goal, table  # noqa: E402
from peer_envs import TOOLS, ensure_env, peer_script, python_for  # noqa: E402

PEER_TIMEOUT_S = 1200
# MLflow needs about a minute per concurrency round (8,000 runs at ~8 ms); three would push the
# suite past 15 minutes on 2 cores, so it gets one
MAX_CONCURRENCY_ROUNDS = {"mlflow": 1}


@dataclass(frozen=True)
class Sizes:
    runs: tuple[int, ...]  # one by one
    bulk_runs: tuple[int, ...]
    file_mib: tuple[int, ...]
    query_runs: int
    depths: tuple[int, ...]
    writers: int
    runs_per_writer: int
    repeats: int
    concurrency_rounds: int


# Full sizes fit `make bench` in well under 30 minutes on 2 cores: lamindb and MLflow take 40-100 ms
# per run saved one by one, so their 10,000-run query stores come from their bulk path (MLflow has
# none: its queries are measured at QUICK sizes only).
FULL = Sizes(
    runs=(100, 1_000),
    bulk_runs=(1_000, 10_000),
    file_mib=(100, 1024),
    query_runs=10_000,
    depths=(10, 100),
    writers=8,
    runs_per_writer=200,
    repeats=3,
    concurrency_rounds=3,
)
# a smoke run that keeps every workload working: one process per measurement, small sizes
QUICK = Sizes(
    runs=(100, 1_000),
    bulk_runs=(100, 1_000),
    file_mib=(10, 50),
    query_runs=1_000,
    depths=(10, 100),
    writers=8,
    runs_per_writer=50,
    repeats=1,
    concurrency_rounds=1,
)

# (goal key, description, best acceptable flowprov / best peer)
GOALS = {
    "one_by_one": ("one-by-one run creation", 0.05),
    "bulk": ("bulk run creation", 0.01),
    "queries": ("queries into DataFrames", 0.2),
    "track_finish": ("`track()` + `finish()`", 0.1),
}


class PeerFailed(RuntimeError):
    pass


@dataclass
class Measurement:
    """One tool's results for one workload variant: the median and what went with it."""

    seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


class SideBySide:
    """Runs each workload for every tool and renders the tables; `tools` maps a tool to its interpreter."""

    def __init__(self, tools: dict[str, Path], workdir: Path, sizes: Sizes) -> None:
        self.tools = tools
        self.workdir = workdir
        self.sizes = sizes
        self.goal_ratios: dict[str, list[tuple[str, float]]] = {key: [] for key in GOALS}
        self.problems: list[str] = []
        self._stores = 0
        self.versions: dict[str, str] = {}
        self.has_bulk: dict[str, bool] = {}
        for tool in tools:
            info = self.call(tool, "version", workdir / "version")
            self.versions[tool], self.has_bulk[tool] = info["version"], info["bulk"]

    # -- running peers ---------------------------------------------------------------------
    def command(self, tool: str, workload: str, store: Path, *extra: str) -> list[str]:
        return [str(self.tools[tool]), str(peer_script(tool)), workload, "--store", str(store), *extra]

    def call(self, tool: str, workload: str, store: Path, *extra: str) -> dict[str, Any]:
        proc = subprocess.run(
            self.command(tool, workload, store, *extra),
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT_S,
            cwd=self.workdir,
        )
        return self._parse(tool, workload, proc)

    @staticmethod
    def _parse(tool: str, workload: str, proc: subprocess.CompletedProcess) -> dict[str, Any]:
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise PeerFailed(f"{tool} {workload} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(lines[-1])

    def fresh_store(self, tool: str, label: str) -> Path:
        self._stores += 1
        store = self.workdir / f"{tool}-{label}-{self._stores}"
        self.call(tool, "init", store)
        return store

    def measure(
        self, tool: str, label: str, workload: str, *extra: str, fresh_each: bool = True, between=None
    ) -> list[dict[str, Any]]:
        """Run a workload in `repeats` processes (a fresh store for each unless told otherwise) and
        return their results; `between(store)` runs before each repeat. Stores are deleted after."""
        results, store = [], None
        for _ in range(self.sizes.repeats):
            if store is None or fresh_each:
                if store is not None:
                    shutil.rmtree(store, ignore_errors=True)
                store = self.fresh_store(tool, label)
            if between:
                between(store)
            results.append(self.call(tool, workload, store, *extra))
        shutil.rmtree(store, ignore_errors=True)
        return results

    @staticmethod
    def timing(results: list[dict[str, Any]], pick=lambda r: r["seconds"]) -> Measurement:
        """The times of a workload's processes, with any failures they reported as notes."""
        m = Measurement()
        for result in results:
            if result.get("failed"):
                m.notes.append(f"{result['failed']} failed: {result['first_error']}")
            m.seconds.append(pick(result))
        return m

    # -- reporting helpers -----------------------------------------------------------------
    def ratio_cells(self, results: dict[str, Measurement]) -> list[str]:
        ours = results.get("flowprov")
        cells = []
        for tool, m in results.items():
            if tool == "flowprov":
                continue
            if ours is None or ours.median is None or m.median is None:
                cells.append("-")
            else:
                cells.append(f"{ours.median / m.median:.3f}")
        return cells

    def note_goal(self, goal: str, label: str, results: dict[str, Measurement]) -> None:
        ours = results.get("flowprov")
        peers = [m.median for tool, m in results.items() if tool != "flowprov" and m.median is not None]
        if ours is not None and ours.median is not None and peers:
            self.goal_ratios[goal].append((label, ours.median / min(peers)))

    def rows_for(self, label: str, results: dict[str, Measurement]) -> list[str]:
        cells = [label]
        for tool in self.tools:
            m = results.get(tool)
            if m is None or m.median is None:
                cells.append(("; ".join(m.notes) if m else "") or "-")
            else:
                text = fmt_seconds(m.median)
                if m.notes:
                    text += " (" + "; ".join(sorted(set(m.notes)))[:200] + ")"
                cells.append(text)
        return cells + self.ratio_cells(results)

    def headers(self, first: str) -> list[str]:
        peers = [t for t in self.tools if t != "flowprov"]
        return [first, *self.tools, *(f"flowprov / {p}" for p in peers)]

    # -- workloads -------------------------------------------------------------------------
    def import_connect(self) -> str:
        results = {
            tool: self.timing(self.measure(tool, "connect", "import-connect", fresh_each=False)) for tool in self.tools
        }
        rows = [self.rows_for("import, open an existing store, one query (fresh process)", results)]
        return table("Import + connect", self.headers("workload"), rows)

    def create_runs(self) -> tuple[str, str]:
        """One by one: one process per repeat creates the largest count into a fresh store and notes
        the time at each smaller count (the first 1,000 of 10,000 are a 1,000-run workload)."""
        sizes, largest = self.sizes.runs, max(self.sizes.runs)
        by_size: dict[int, dict[str, Measurement]] = {n: {} for n in sizes}
        self.query_stores: dict[str, Path] = {}
        for tool in self.tools:
            runs = []
            for _ in range(self.sizes.repeats):
                if tool in self.query_stores:
                    shutil.rmtree(self.query_stores[tool], ignore_errors=True)
                store = self.query_stores[tool] = self.fresh_store(
                    tool, "runs"
                )  # the last one is what the queries read
                runs.append(
                    self.call(
                        tool, "create-runs", store, "--n", str(largest), "--checkpoints", ",".join(map(str, sizes))
                    )
                )
            for n in sizes:
                by_size[n][tool] = self.timing(runs, lambda r, n=n: r["checkpoints"][str(n)])
        one_rows = []
        for n in sizes:
            label = f"{n:,} runs, one by one"
            one_rows.append(self.rows_for(label, by_size[n]))
            self.note_goal("one_by_one", label, by_size[n])
        bulk_rows = []
        for n in self.sizes.bulk_runs:
            results = {}
            for tool in self.tools:
                results[tool] = (
                    self.timing(self.measure(tool, "bulk", "create-runs", "--n", str(n), "--bulk"))
                    if self.has_bulk[tool]
                    else Measurement(notes=["no bulk path"])
                )
            bulk_rows.append(self.rows_for(f"{n:,} runs, bulk", results))
            self.note_goal("bulk", f"{n:,} runs, bulk", results)
            if "lamindb" in self.tools:
                variant = dict(results)
                variant["lamindb"] = self.timing(
                    self.measure(
                        "lamindb", "bulk", "create-runs", "--n", str(n), "--bulk", "--option", "search_names=off"
                    )
                )
                bulk_rows.append(self.rows_for(f"{n:,} runs, bulk (lamindb: `search_names = False`)", variant))
        self._bulk_query_stores()
        one = table(
            "Creating runs one by one (one transform/experiment; each run: a reference + 5 params, saved on its own)",
            self.headers("workload"),
            one_rows,
        )
        if "flowprov" in self.tools:
            floor = self.sqlite_floor(sizes)
            one += (
                "\nThe floor under any SQLite tool: plain `sqlite3` inserting the same run rows "
                "into a flowprov store, one transaction each (WAL, synchronous=NORMAL): "
            )
            one += ", ".join(f"{fmt_seconds(floor[n])} for {n:,}" for n in sizes)
            one += "; as a fraction of lamindb's time (the best ratio any SQLite tool could reach): "
            one += ", ".join(
                f"{floor[n] / m.median:.3f} for {n:,}"
                for n in sizes
                if (m := by_size[n].get("lamindb")) is not None and m.median
            )
            one += ".\n"
        bulk = table(
            "Creating runs in bulk (flowprov and lamindb: `save(list)`; MLflow has no bulk run creation)",
            self.headers("workload"),
            bulk_rows,
        )
        return one, bulk

    def sqlite_floor(self, sizes: tuple[int, ...]) -> dict[int, float]:
        """Median time to the k-th run for raw sqlite3 INSERT + COMMIT per run (no Python layer)."""
        import sqlite3

        sys.path.insert(0, str(HERE / "peers"))
        from peer_base import REFERENCE_TYPE, run_params, run_reference

        largest, repeats = max(sizes), []
        for _ in range(self.sizes.repeats):
            store = self.fresh_store("flowprov", "floor")
            self.call("flowprov", "create-runs", store, "--n", "0")  # the transform and user rows
            conn = sqlite3.connect(store / "flowprov.db", isolation_level=None)
            conn.execute("PRAGMA synchronous = NORMAL")
            sql = (
                "INSERT INTO flowprov_run (uid, reference, reference_type, params, _status_code, "
                "transform_id, created_by_id, space_id, created_at, started_at)"
                " VALUES (?, ?, ?, ?, -1, 1, 1, 1, ?, ?)"
            )
            marks, start = {}, time.perf_counter()
            for i in range(largest):
                now = time.strftime("%Y-%m-%d %H:%M:%S")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, (f"{i:016d}", run_reference(i), REFERENCE_TYPE, json.dumps(run_params(i)), now, now))
                conn.execute("COMMIT")
                if i + 1 in sizes:
                    marks[i + 1] = time.perf_counter() - start
            conn.close()
            repeats.append(marks)
            shutil.rmtree(store, ignore_errors=True)
        return {n: statistics.median(m[n] for m in repeats) for n in sizes}

    def track_finish(self) -> str:
        results = {
            tool: self.timing(self.measure(tool, "track", "track-finish", fresh_each=False)) for tool in self.tools
        }
        label = "`track()` + `finish()` in a fresh script process (MLflow: `set_experiment` + `start_run` + `end_run`)"
        self.note_goal("track_finish", "track() + finish()", results)
        return table("A script's track() and finish()", self.headers("workload"), [self.rows_for(label, results)])

    def register_files(self) -> str:
        rows = []
        for mib in self.sizes.file_mib:
            path = self.workdir / f"file-{mib}MiB.bin"
            block = os.urandom(1 << 20)
            with open(path, "wb") as fh:
                for _ in range(mib):
                    fh.write(block[:-8] + os.urandom(8))

            def new_content(store: Path, path: Path = path) -> None:
                # new bytes at the end: no tool may recognise the file from a previous repeat
                with open(path, "r+b") as fh:
                    fh.seek(-8, os.SEEK_END)
                    fh.write(os.urandom(8))
                subprocess.run(
                    ["cat", str(path)], stdout=subprocess.DEVNULL, check=True
                )  # every tool reads from the page cache

            results = {
                tool: self.timing(
                    self.measure(
                        tool, "files", "register-file", "--file", str(path), fresh_each=False, between=new_content
                    )
                )
                for tool in self.tools
            }
            rows.append(self.rows_for(f"register a {mib:,} MiB file", results))
            path.unlink()
        title = (
            "Registering a file (flowprov: hashed in place; lamindb: hashed and copied into its "
            "storage; MLflow: `log_artifact` copies it, no hash)"
        )
        return table(title, self.headers("workload"), rows)

    def _bulk_query_stores(self) -> None:
        """Query stores larger than the one-by-one workload: each tool's bulk path fills them."""
        n = self.sizes.query_runs
        if n <= max(self.sizes.runs):
            return
        for tool in self.tools:
            shutil.rmtree(self.query_stores.pop(tool), ignore_errors=True)
            if self.has_bulk[tool]:
                store = self.query_stores[tool] = self.fresh_store(tool, "query")
                self.call(tool, "create-runs", store, "--n", str(n), "--bulk")

    def queries(self) -> str:
        n = self.sizes.query_runs
        by_ref: dict[str, Measurement] = {}
        by_param: dict[str, Measurement] = {}
        for tool in self.tools:
            store = self.query_stores.get(tool)
            by_ref[tool], by_param[tool] = Measurement(), Measurement()
            if store is None:
                by_ref[tool].notes.append(f"no bulk path to store {n:,} runs")
                by_param[tool].notes.append(f"no bulk path to store {n:,} runs")
                continue
            result = self.call(tool, "query", store, "--n", str(n))  # the process takes the median of 5 itself
            by_ref[tool].seconds.append(result["by_reference"])
            by_param[tool].seconds.append(result["by_param"])
            if result["by_reference_rows"] != 1:
                by_ref[tool].notes.append(f"{result['by_reference_rows']} rows, expected 1")
            if result["by_param_rows"] != n // 10:
                by_param[tool].notes.append(f"{result['by_param_rows']} rows, expected {n // 10}")
            shutil.rmtree(store, ignore_errors=True)
        label_ref = f"the run with a given reference -> DataFrame ({n:,} runs stored)"
        label_param = f"runs with a given param value -> DataFrame ({n // 10:,} of {n:,} runs)"
        self.note_goal("queries", "by reference", by_ref)
        self.note_goal("queries", "by param value", by_param)
        rows = [self.rows_for(label_ref, by_ref), self.rows_for(label_param, by_param)]
        return table(
            "Queries into DataFrames (each process: one warm-up, then the median of 5)", self.headers("workload"), rows
        )

    def lineage(self) -> str:
        rows = []
        scratch = self.workdir / "chain-files"
        scratch.mkdir(exist_ok=True)
        for depth in self.sizes.depths:
            results: dict[str, Measurement] = {}
            for tool in self.tools:
                m = results[tool] = Measurement()
                store = self.fresh_store(tool, f"lineage{depth}")
                result = self.call(
                    tool, "lineage", store, "--n", str(depth), "--file", str(scratch)
                )  # builds, then the median of 5 walks
                m.seconds.append(result["seconds"])
                if result["runs_found"] != depth:
                    m.notes.append(f"found {result['runs_found']} of {depth} runs")
                shutil.rmtree(store, ignore_errors=True)
            rows.append(self.rows_for(f"upstream walk from the last output, {depth} runs deep", results))
        title = (
            "Lineage walk (flowprov: `upstream()`; lamindb: the walk behind `view_lineage()`; "
            "MLflow: following `mlflow.parentRunId` tags)"
        )
        return table(title, self.headers("workload"), rows)

    def concurrency(self) -> str:
        writers, per = self.sizes.writers, self.sizes.runs_per_writer
        rows = []
        for tool in self.tools:
            walls, stored, errors, first_errors = [], [], [], set()
            for _ in range(
                min(self.sizes.concurrency_rounds, MAX_CONCURRENCY_ROUNDS.get(tool, self.sizes.concurrency_rounds))
            ):
                wall, count, failed, first = self._concurrent_round(tool, writers, per)
                walls.append(wall)
                stored.append(count)
                errors.append(failed)
                first_errors.update(first)
            expected = writers * per
            lost = [expected - s - e for s, e in zip(stored, errors, strict=True)]
            if tool == "flowprov" and (any(lost) or any(errors)):
                self.problems.append(
                    f"flowprov lost or failed runs under concurrency: stored {stored}, errors {errors}"
                )
            rows.append(
                [
                    tool,
                    fmt_seconds(statistics.median(walls)),
                    " / ".join(f"{s:,}" for s in stored) + f" of {expected:,}",
                    " / ".join(str(e) for e in errors),
                    " / ".join(str(x) for x in lost),
                    ("; ".join(sorted(first_errors))[:300] or "-"),
                ]
            )
        headers = [
            "tool",
            "wall time (median)",
            "runs stored (each round)",
            "errors raised to the writer",
            "runs lost silently",
            "first error",
        ]
        title = f"{writers} processes writing {per:,} runs each into one fresh SQLite store at the same moment"
        return table(title, headers, rows)

    def _concurrent_round(self, tool: str, writers: int, per: int) -> tuple[float, int, int, list[str]]:
        store = self.fresh_store(tool, "concurrent")
        self.call(tool, "create-runs", store, "--n", "0")  # the transform/experiment exists before the race
        barrier = store / "barrier"
        barrier.mkdir()
        procs = [
            subprocess.Popen(
                self.command(
                    tool, "concurrent-writer", store, "--n", str(per), "--file", str(barrier), "--start", str(k * per)
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=self.workdir,
            )
            for k in range(writers)
        ]
        deadline = time.monotonic() + 300
        while len(list(barrier.glob("ready-*"))) < writers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                break
            time.sleep(0.01)
        start = time.perf_counter()
        (barrier / "go").touch()
        failed, first = 0, []
        for p in procs:
            out, err = p.communicate(timeout=PEER_TIMEOUT_S)
            try:
                result = self._parse(
                    tool, "concurrent-writer", subprocess.CompletedProcess(p.args, p.returncode, out, err)
                )
            except PeerFailed as exc:  # a writer that died: all its runs count as errors
                failed += per
                first.append(str(exc).splitlines()[-1][:200])
                continue
            failed += result["failed"]
            if result.get("first_error"):
                first.append(result["first_error"][:200])
        wall = time.perf_counter() - start
        count = self.call(tool, "count", store)["runs"]
        shutil.rmtree(store, ignore_errors=True)
        return wall, count, failed, first

    def goals(self) -> None:
        """Hand the measured ratios to the suite's goals table (common.note_goal)."""
        for key, (description, limit) in GOALS.items():
            for label, ratio in self.goal_ratios[key]:
                note_goal(description, label, ratio, limit)


def run(quick: bool = False, tools: list[str] | None = None, install: bool = True) -> tuple[str, dict[str, str]]:
    """Run every side-by-side workload; return the Markdown sections and the tool versions."""
    chosen: dict[str, Path] = {}
    for tool in tools or TOOLS:
        python = ensure_env(tool) if install else python_for(tool)
        if python is not None:
            chosen[tool] = python
        else:
            print(
                f"skipping {tool}: no environment at benchmarks/.venvs/{tool} (run `make bench` to install it)",
                file=sys.stderr,
            )
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="flowprov-peers-") as tmp:
        bench = SideBySide(chosen, Path(tmp), sizes)
        versions = bench.versions
        sections = [
            bench.import_connect(),
            *bench.create_runs(),
            bench.track_finish(),
            bench.register_files(),
            bench.queries(),
            bench.lineage(),
            bench.concurrency(),
        ]
        bench.goals()
    intro = (
        "**Side by side: flowprov, lamindb and MLflow**\n\n"
        f"Versions: {', '.join(f'{t} {v}' for t, v in versions.items())}. Each time is the median of {sizes.repeats} fresh processes "
        "(queries and lineage walks: of 5 calls after a warm-up, in one process); "
        f"the concurrency table shows {sizes.concurrency_rounds} round(s) per tool"
        + "".join(
            f" ({tool}: at most {n}, for time)"
            for tool, n in MAX_CONCURRENCY_ROUNDS.items()
            if tool in versions and n < sizes.concurrency_rounds
        )
        + ". Ratios are flowprov / that tool (below 1: flowprov is faster).\n"
    )
    if bench.problems:
        intro += "\n**Problems:** " + "; ".join(bench.problems) + "\n"
    return intro + "\n" + "\n".join(sections), versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools to run (default: all)")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="skip peers whose environment is not installed instead of installing it",
    )
    args = parser.parse_args()
    text, _ = run(args.quick, args.tools.split(","), install=not args.no_install)
    print(text)


if __name__ == "__main__":
    main()
