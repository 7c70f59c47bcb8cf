"""The side-by-side benchmark's quick mode, so it cannot rot: flowprov's side always, lamindb and
MLflow only where `make bench` already installed their environments (never installed here)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_peers  # noqa: E402
import common  # noqa: E402
import run as bench_run  # noqa: E402
from peer_envs import TOOLS, python_for  # noqa: E402


def _row(text: str, title_start: str, first_cell: str) -> list[str]:
    section = text[text.index(f"### {title_start}") :]
    section = section[: section.find("\n### ", 4) if "\n### " in section[4:] else len(section)]
    line = next(line for line in section.splitlines() if line.startswith(f"| {first_cell}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.xdist_group("benchmarks")
def test_quick_side_by_side_runs_every_workload_for_flowprov(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPROV_HASH_CACHE", str(tmp_path / "hash-cache.db"))
    tools = [t for t in TOOLS if python_for(t) is not None]
    text, versions = bench_peers.run(quick=True, tools=tools, install=False)
    assert list(versions) == tools and versions["flowprov"]
    assert "**Problems:**" not in text

    sizes = bench_peers.QUICK
    time_cell = re.compile(r"^\d+(\.\d+)? (µs|ms|s)$")
    for title, first in [
        ("Import + connect", "import"),
        ("Creating runs one by one", f"{sizes.runs[0]:,} runs"),
        ("Creating runs one by one", f"{sizes.runs[-1]:,} runs"),
        ("Creating runs in bulk", f"{sizes.bulk_runs[-1]:,} runs, bulk"),
        ("A script's track()", "`track()`"),
        ("Registering a file", f"register a {sizes.file_mib[-1]:,} MiB"),
        ("Queries into DataFrames", "the run with a given reference"),
        ("Queries into DataFrames", "runs with a given param value"),
        ("Lineage walk", f"upstream walk from the last output, {sizes.depths[-1]} runs"),
    ]:
        cells = _row(text, title, first)
        # the flowprov cell is a bare time: no failures, wrong row counts or short lineage noted
        assert time_cell.match(cells[1]), (title, cells)

    expected = sizes.writers * sizes.runs_per_writer
    cells = _row(text, f"{sizes.writers} processes writing", "flowprov")
    assert cells[2] == f"{expected:,} of {expected:,}" and cells[3] == "0" and cells[4] == "0", cells
    if "lamindb" in tools:  # the goals are ratios against lamindb: noted only where it ran
        goals = {(goal, workload) for goal, workload, *_ in common.GOALS}
        assert ("one-by-one run creation", f"{sizes.runs[-1]:,} runs, one by one") in goals
        assert ("bulk run creation", f"{sizes.bulk_runs[-1]:,} runs, bulk") in goals


def test_results_file_keeps_the_other_suites_block():
    first = bench_run.replace_block("", "adapters", "adapters v1")
    both = bench_run.replace_block(first, "main", "main v1")
    assert both.index("main v1") < both.index("adapters v1")
    again = bench_run.replace_block(both, "main", "main v2")
    assert "main v1" not in again and "main v2" in again and "adapters v1" in again


@pytest.mark.xdist_group("benchmarks")
def test_quick_diff_benchmark(tmp_path, monkeypatch):
    import bench_diff

    monkeypatch.setenv("FLOWPROV_HASH_CACHE", str(tmp_path / "hash-cache.db"))
    text = bench_diff.run(quick=True)
    row = _row(text, "Diff of two workflow runs", "`flowprov.diff` of two workflow runs of 100 jobs (SQLite)")
    assert re.fullmatch(r"\d+(\.\d+)? (µs|ms|s)", row[1]) and float(row[3]) > 0
    statements = int(re.search(r"sent (\d+) SQL statements", row[4]).group(1))
    assert statements < 20  # a fixed number of queries, whatever the number of jobs


@pytest.mark.xdist_group("benchmarks")
def test_quick_start_up_reads_and_postgresql_saves(tmp_path, monkeypatch):
    """The rows issue 22 added: each reports a time (and memory) next to its baseline and notes
    its goal; `import flowprov` loads none of the heavy modules."""
    import bench_import
    import bench_reads
    import bench_saves
    from tests.conftest import pg_problem

    monkeypatch.setenv("FLOWPROV_HASH_CACHE", str(tmp_path / "hash-cache.db"))
    common.GOALS.clear()
    text = bench_import.run(quick=True) + bench_reads.run(quick=True)
    assert _row(text, "Start-up", "heavy modules loaded by `import flowprov`")[1] == "none"
    for first in ("`import flowprov`", "`flowprov --help`"):
        assert float(_row(text, "Start-up", first)[3]) > 0
    memory = _row(
        text, "A whole run table", "`Run.filter().df(limit=None)` of 20,000 runs (SQLite, fresh process): peak"
    )
    assert memory[1].endswith(" MiB") and float(memory[3]) > 0
    if pg_problem() is None:
        text = bench_saves.run(quick=True)
        assert float(_row(text, "Runs saved one by one on PostgreSQL", "100 runs")[3]) > 0
    workloads = {workload for _, workload, *_ in common.GOALS}
    assert "`import flowprov` wall time" in workloads and "`flowprov --help` wall time" in workloads
    assert "20,000 runs: time" in workloads and "20,000 runs: peak memory" in workloads
