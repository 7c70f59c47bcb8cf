"""Nextflow: tasks writing equal bytes in their work dirs, published copies under --outdir, and the
true times of the real default-field traces in tests/data/nextflow (both stores)."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app
from flowprov.integrations.nextflow import ingest
from flowprov.lineage import locate, upstream
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "nextflow"
HEADER = (
    "task_id\thash\tnative_id\tname\tstatus\texit\tsubmit\tduration\trealtime\t%cpu\tpeak_rss\tpeak_vmem\trchar\twchar"
)


def ingest_quietly(target, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest(target, **options)


def work_dir(launch: Path, full_hash: str, staged: list[tuple[Path, str]], files: dict[str, str]) -> Path:
    """A task work dir as Nextflow leaves it: staging lines in .command.run, the files it wrote."""
    work = launch / "work" / full_hash[:2] / full_hash[2:]
    work.mkdir(parents=True)
    links = "\n".join(f"    ln -s {src} {name}" for src, name in staged)
    (work / ".command.run").write_text(f"#!/bin/bash\nnxf_stage() {{\n    true\n{links}\n}}\n")
    (work / ".command.sh").write_text("#!/bin/bash\ntrue\n")
    (work / ".exitcode").write_text("0")
    for src, name in staged:
        (work / name).symlink_to(src)
    for name, content in files.items():
        (work / name).write_text(content)
    return work


def test_equal_outputs_and_published_copies_name_their_own_task(store, tmp_path):
    launch = tmp_path / "launch"
    raw = {s: launch / "data" / f"{s}.txt" for s in "AB"}
    raw["A"].parent.mkdir(parents=True)
    for s, path in raw.items():
        path.write_text(f"sample {s}\n")
    hashes = {"TOUCH (A)": "a1" * 16, "TOUCH (B)": "b2" * 16, "CHECK (B)": "c3" * 16}
    versions = "TOUCH:\n  coreutils: 9.1\n"  # every TOUCH task writes the same versions.yml
    wa = work_dir(launch, hashes["TOUCH (A)"], [(raw["A"], "A.txt")], {"A.done": "", "versions.yml": versions})
    wb = work_dir(launch, hashes["TOUCH (B)"], [(raw["B"], "B.txt")], {"B.done": "", "versions.yml": versions})
    wc = work_dir(launch, hashes["CHECK (B)"], [(wb / "B.done", "B.done")], {"B.checked": "ok\n"})
    outdir = launch / "results"
    (outdir / "touch").mkdir(parents=True)
    for name in ("A.done", "B.done"):
        (outdir / "touch" / name).write_text("")  # published copies: equal bytes, their own names
    (outdir / "versions.yml").write_text(versions)  # equal bytes and name from two tasks: ambiguous
    rows = [
        "1\ta1/a1a1a1\t11\tTOUCH (A)\tCOMPLETED\t0\t2024-05-01 10:00:00.000\t2s\t1.5s\t-\t-\t-\t-\t-",
        "2\tb2/b2b2b2\t12\tTOUCH (B)\tCOMPLETED\t0\t2024-05-01 10:00:01.000\t3s\t2s\t-\t-\t-\t-\t-",
        "3\tc3/c3c3c3\t13\tCHECK (B)\tCOMPLETED\t0\t2024-05-01 10:00:05.000\t1s\t0.5s\t-\t-\t-\t-\t-",
    ]
    trace = launch / "trace.txt"
    trace.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    session = "12345678-1234-1234-1234-123456789abc"
    [result] = ingest_quietly(trace, session_id=session, run_name="tender_hopper", timezone="UTC", outdir=outdir)
    task = {name: ln.Run.get(reference=h) for name, h in hashes.items()}
    # every file, in a work dir or published, names the task that wrote it (not the first with those bytes)
    expected = {
        wa / "A.done": "TOUCH (A)",
        wb / "B.done": "TOUCH (B)",
        wa / "versions.yml": "TOUCH (A)",
        wb / "versions.yml": "TOUCH (B)",
        outdir / "touch" / "A.done": "TOUCH (A)",
        outdir / "touch" / "B.done": "TOUCH (B)",
        wc / "B.checked": "CHECK (B)",
    }
    for path, name in expected.items():
        start = locate(path)
        assert (start.run.name, start.matched_by) == (name, "location"), path
    launch_run = ln.Run.get(result.run.uid)
    assert locate(outdir / "versions.yml").run == launch_run
    assert launch_run.aux["published_ambiguous"] == {
        str(outdir / "versions.yml"): [hashes["TOUCH (A)"], hashes["TOUCH (B)"]]
    }
    graph = json.loads(CliRunner().invoke(app, ["lineage", str(wc / "B.checked"), "--json", "--db", store.url]).stdout)
    assert graph["start_run"] == task["CHECK (B)"].uid
    assert {r["name"] for r in graph["runs"]} == {"CHECK (B)", "TOUCH (B)"}
    assert raw["B"].as_uri() in {e["path"] for e in graph["edges"]} and raw["A"].as_uri() not in {
        e["path"] for e in graph["edges"]
    }
    assert {r.name for r in upstream(task["CHECK (B)"]).runs} == {"CHECK (B)", "TOUCH (B)"}
    published = outdir / "touch" / "B.done"
    assert {r.name for r in upstream(locate(published).artifact, path=published).runs} == {"TOUCH (B)"}
    # times: submit + duration (the trace has no complete column); the launch ends with its last task
    assert task["TOUCH (B)"].finished_at == dt.datetime(2024, 5, 1, 10, 0, 4, tzinfo=dt.UTC)
    assert launch_run.finished_at == dt.datetime(2024, 5, 1, 10, 0, 6, tzinfo=dt.UTC)
    assert launch_run.started_at == dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=dt.UTC)


DEFAULT_FIELD_TRACES = [
    "bu-isciii_sarscov2_trace.txt",
    "chipseq-jianhong_trace.txt",
    "nfbug_trace.txt",
    "openproblems_loving_blackwell_trace.txt",
    "scisoseq_trace.txt",
    "wfcommons_hlatyping_trace.6.txt",
]


@pytest.mark.parametrize("name", DEFAULT_FIELD_TRACES)
def test_real_default_field_traces_have_true_times(store, name):
    assert "complete" not in (DATA / name).read_text().splitlines()[0].split("\t")
    ingest_began = dt.datetime.now(dt.UTC)
    [result] = ingest_quietly(DATA / name, timezone="UTC")
    store.session.expunge_all()
    launch = ln.Run.get(result.run.uid)
    tasks = launch.initiated_runs.all().list()
    completed = [t for t in tasks if t.aux["trace_status"] == "COMPLETED"]
    for t in completed:
        assert t.finished_at is not None and t.finished_at >= t.started_at, t.name
        assert t.finished_at == t.started_at + dt.timedelta(milliseconds=t.aux["duration_ms"])
    ends = [t.finished_at for t in tasks if t.finished_at is not None and t.aux["trace_status"] != "CACHED"]
    for record in [launch, *tasks]:  # no stored time is the moment of ingest
        for value in (record.started_at, record.finished_at):
            assert value is None or value < ingest_began, (record.name, value)
    if ends:
        assert launch.finished_at == max(ends)
    else:
        assert launch.finished_at is None and "finished_at_unknown" in launch.aux
    for t in tasks:
        if t.finished_at is None:
            assert "finished_at_unknown" in t.aux, t.name


def test_launch_end_from_history(store, tmp_path):
    """openproblems: .nextflow/history gives the launch's start and duration (1h 9m 52s)."""
    import shutil

    launch_dir = tmp_path / "openproblems"
    (launch_dir / ".nextflow").mkdir(parents=True)
    (launch_dir / "results" / "pipeline_info").mkdir(parents=True)
    shutil.copy(DATA / "openproblems_nextflow_history.tsv", launch_dir / ".nextflow" / "history")
    shutil.copy(
        DATA / "openproblems_loving_blackwell_trace.txt",
        launch_dir / "results" / "pipeline_info" / "execution_trace.txt",
    )
    shutil.copy(DATA / "openproblems_report.html", launch_dir / "results" / "pipeline_info" / "execution_report.html")
    [result] = ingest_quietly(launch_dir)
    store.session.expunge_all()
    launch = ln.Run.get(result.run.uid)
    assert launch.finished_at - launch.started_at == dt.timedelta(hours=1, minutes=9, seconds=52)
    ends = [t.finished_at for t in launch.initiated_runs.all() if t.finished_at is not None]
    starts = [t.started_at for t in launch.initiated_runs.all() if t.started_at is not None]
    assert launch.started_at <= min(starts) and max(ends) <= launch.finished_at + dt.timedelta(seconds=1)
