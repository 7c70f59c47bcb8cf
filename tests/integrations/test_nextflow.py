"""Nextflow ingest on the real trace files in tests/data/nextflow and on generated ones, both stores."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import flowprov as ln
from flowprov.integrations.nextflow import IngestError, TraceError, ingest
from flowprov.integrations.nextflow.history import pipeline_from_command, read_history
from flowprov.integrations.nextflow.values import parse_duration_ms, parse_memory_bytes, parse_percent, parse_timestamp
from tests.conftest import REPO
from tests.integrations.nextflow_stand_in import install_stand_in

# The real Nextflow files (their sources in SOURCES.tsv beside them) are part of the repository.
DATA = REPO / "tests" / "data" / "nextflow"
HEADER = (
    "task_id\thash\tnative_id\tname\tstatus\texit\tsubmit\tduration\trealtime\t%cpu\tpeak_rss\tpeak_vmem\trchar\twchar"
)


def ingest_quietly(target, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest(target, **options)


def store_counts():
    return (ln.Run.filter().count(), ln.Transform.filter().count(), ln.Artifact.filter().count())


@pytest.fixture
def openproblems_launch(tmp_path):
    """The openproblems files laid out as Nextflow leaves them in a launch directory."""
    launch = tmp_path / "openproblems"
    (launch / ".nextflow").mkdir(parents=True)
    (launch / "results" / "pipeline_info").mkdir(parents=True)
    shutil.copy(DATA / "openproblems_nextflow_history.tsv", launch / ".nextflow" / "history")
    shutil.copy(
        DATA / "openproblems_loving_blackwell_trace.txt", launch / "results" / "pipeline_info" / "execution_trace.txt"
    )
    shutil.copy(DATA / "openproblems_report.html", launch / "results" / "pipeline_info" / "execution_report.html")
    return launch


def test_value_parsers():
    assert parse_duration_ms("519ms") == 519 and parse_duration_ms("1.2s") == 1200
    assert (
        parse_duration_ms("4h 12m 10s") == (4 * 3600 + 12 * 60 + 10) * 1000
        and parse_duration_ms("1d 3h") == 27 * 3600 * 1000
    )
    assert parse_duration_ms("5080") == 5080 and parse_duration_ms("-") is None
    assert parse_memory_bytes("912 B") == 912 and parse_memory_bytes("29.8 MB") == round(29.8 * 1024**2)
    assert (
        parse_memory_bytes("1 GB") == 1024**3
        and parse_memory_bytes("0") == 0
        and parse_memory_bytes("6442450944") == 6442450944
    )
    assert (
        parse_percent("98.5%") == 98.5
        and parse_percent("98,5%") == 98.5
        and parse_percent("1577.7%") == 1577.7
        and parse_percent("87.3") == 87.3
    )
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    assert parse_timestamp("2020-05-05 14:12:02.972", berlin) == dt.datetime(
        2020, 5, 5, 12, 12, 2, 972000, tzinfo=dt.UTC
    )
    assert parse_timestamp("1588680722972", berlin) == dt.datetime(2020, 5, 5, 12, 12, 2, 972000, tzinfo=dt.UTC)
    for bad, parser in (("12.3 XB", parse_memory_bytes), ("soon", parse_duration_ms), ("lots%", parse_percent)):
        with pytest.raises(ValueError, match="cannot parse"):
            parser(bad)


def test_history_and_command_lines():
    entries = read_history(DATA / "daytona_nextflow_history.tsv")
    assert len(entries) == 115 and sum(e.status is None for e in entries) == 13
    assert {e.status for e in entries} == {"OK", "ERR", None}
    assert (
        pipeline_from_command(
            "nextflow run -with-tower -profile aws -work-dir '/mnt/a b' -bucket-dir 's3://x' singlecellopenproblems/nf-openproblems"
        )
        == "singlecellopenproblems/nf-openproblems"
    )
    assert (
        pipeline_from_command("nextflow run nf-core/rnaseq -r 3.14 -profile docker --input s.csv") == "nf-core/rnaseq"
    )
    assert pipeline_from_command("nextflow main.nf --help") == "main.nf"


def test_openproblems_launch(store, openproblems_launch):
    [result] = ingest(openproblems_launch)
    store.session.expunge_all()  # read back what was stored, not the objects in memory
    run = ln.Run.get(result.run.uid)
    assert (run.name, run.reference, run.reference_type) == (
        "loving_blackwell",
        "5477e033-04ee-44f1-81c9-a72a7f1508c2",
        "nextflow_session_id",
    )
    assert run.status == "completed"
    assert (
        run.transform.key == "singlecellopenproblems/nf-openproblems"
        and run.transform.version_tag == "5794756a4c71733a7b9184e393fe2d4487df488a"
    )
    assert result.identity_source == {"run_name": "report", "session_id": "report", "pipeline": "history"}
    assert (result.tasks, result.executed, result.cached, result.failed) == (217, 217, 0, 8)
    tasks = run.initiated_runs.all()
    assert tasks.count() == 217 and ln.Run.filter(initiated_by_run=run, status="errored").count() == 8
    first = ln.Run.get(name="list_tasks", initiated_by_run=run)
    assert (
        first.reference == "09f496c9" + first.reference[8:] and len(first.reference) == 32
    )  # full hash from the report's workdir
    assert (
        first.aux["peak_rss_bytes"] == 218 * 1024**2
        and first.aux["cpu_percent"] == 97.8
        and first.aux["realtime_ms"] == 2500
    )
    assert first.transform.key == "singlecellopenproblems/nf-openproblems#list_tasks" and first.transform.type == "step"
    assert first.started_at.tzinfo is not None
    # retries: attempts of one task are linked, every attempt is kept
    retried = ln.Run.filter(initiated_by_run=run, aux__attempt__gt=1)
    assert retried.count() == result.retried > 0
    sample = retried.first()
    assert sample.aux["retry_of"] and ln.Run.filter(reference=sample.aux["retry_of"], status="errored").count() == 1
    assert run.report is not None and run.report.uri.endswith("execution_report.html")
    assert ln.Run.filter(reference_type="nextflow_session_id", params__isnull=True).count() == 1


def test_reingest_changes_nothing(store, openproblems_launch):
    ingest(openproblems_launch)
    before = store_counts()
    ingest(openproblems_launch)
    rolled = openproblems_launch / "results" / "pipeline_info" / "execution_trace.txt.1"
    shutil.copy(openproblems_launch / "results" / "pipeline_info" / "execution_trace.txt", rolled)
    ingest(
        rolled,
        report=openproblems_launch / "results" / "pipeline_info" / "execution_report.html",
        history=openproblems_launch / ".nextflow" / "history",
    )
    assert store_counts() == before


def test_longer_trace_adds_only_the_new_tasks(store, tmp_path):
    full = (DATA / "chipseq-jianhong_trace.txt").read_text().splitlines()
    partial = tmp_path / "trace.txt"
    partial.write_text("\n".join(full[:101]) + "\n")
    [first] = ingest_quietly(
        partial, session_id="11111111-2222-3333-4444-555555555555", run_name="tiny_curie", timezone="UTC"
    )
    assert first.run.initiated_runs.count() == 100
    partial.write_text("\n".join(full) + "\n")
    [second] = ingest_quietly(
        partial, session_id="11111111-2222-3333-4444-555555555555", run_name="tiny_curie", timezone="UTC"
    )
    assert second.run.id == first.run.id and second.run.initiated_runs.count() == 275
    assert ln.Run.filter(reference_type="nextflow_session_id").count() == 1


@pytest.mark.parametrize(
    ("name", "tasks", "statuses", "launch_status", "duplicates"),
    [
        ("bu-isciii_sarscov2_trace.txt", 12, {"FAILED": 9, "COMPLETED": 3}, "errored", 1),
        ("chipseq-jianhong_trace.txt", 275, {"COMPLETED": 258, "FAILED": 17}, "errored", 0),
        ("mados_slurmsetup_trace.csv", 215, {"COMPLETED": 215}, "completed", 0),
        ("nfbug_trace.txt", 2, {"FAILED": 2}, "errored", 0),
        ("scisoseq_trace.txt", 8, {"CACHED": 6, "COMPLETED": 1, "FAILED": 1}, "errored", 0),
        ("wfcommons_hlatyping_trace.4.txt", 0, {}, "aborted", 0),
        ("wfcommons_hlatyping_trace.6.txt", 2, {"FAILED": 1, "ABORTED": 1}, "errored", 0),
    ],
)
def test_every_real_trace(store, name, tasks, statuses, launch_status, duplicates):
    [result] = ingest_quietly(DATA / name, timezone="UTC")
    assert (result.tasks, result.statuses, result.duplicates) == (tasks, statuses, duplicates)
    store.session.expunge_all()
    assert ln.Run.get(result.run.uid).status == launch_status
    assert ln.Run.filter(initiated_by_run=result.run).count() == tasks
    before = store_counts()
    ingest_quietly(DATA / name, timezone="UTC")
    assert store_counts() == before


def test_raw_semicolon_trace(store):
    [result] = ingest_quietly(DATA / "mados_slurmsetup_trace.csv", session_id="00000000-0000-0000-0000-000000000001")
    task = ln.Run.get(initiated_by_run=result.run, aux__task_id=3)
    assert task.started_at == dt.datetime.fromtimestamp(1742930207104 / 1000, tz=dt.UTC)
    assert (
        task.aux["peak_rss_bytes"] == 10108928
        and task.aux["cpu_percent"] == 87.3
        and task.aux["memory_bytes"] == 6442450944
    )
    assert task.transform.key.endswith("#NFCORE_CHIPSEQ:CHIPSEQ:INPUT_CHECK:SAMPLESHEET_CHECK")
    assert task.reference == "52aa9eeed4685fa6253b3d35ec1d4df4"


def test_timezone_from_the_report(store):
    """nfbug: the trace says 14:12:02.972 local; the report's epoch is 12:12:02.972Z (UTC+2 there)."""
    [result] = ingest(DATA / "nfbug_trace.txt", report=DATA / "nfbug_report.html")
    assert result.run.name == "elegant_einstein" and result.run.reference == "0c8c2c48-d1d0-483d-bafc-af752faed1e2"
    assert "UTC+2h" in result.timezone
    foo3 = ln.Run.get(name="foo (3)", initiated_by_run=result.run)
    assert foo3.aux["submit"] == "2020-05-05T12:12:02.972000+00:00"
    [given] = ingest(DATA / "nfbug_trace.txt", report=DATA / "nfbug_report.html", timezone="Europe/Berlin")
    assert given.run.id == result.run.id
    assert ln.Run.get(name="foo (3)", initiated_by_run=result.run).aux["submit"] == "2020-05-05T12:12:02.972000+00:00"


def test_resumed_launch_links_cached_tasks(store, tmp_path):
    """scisoseq was resumed: its CACHED rows carry the first launch's hashes."""
    rows = (DATA / "scisoseq_trace.txt").read_text().splitlines()
    first = tmp_path / "first" / "trace.txt"
    first.parent.mkdir()
    first.write_text(
        "\n".join([rows[0]] + [r.replace("\tCACHED\t", "\tCOMPLETED\t") for r in rows[1:] if "\tCACHED\t" in r]) + "\n"
    )
    session = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    [orig] = ingest_quietly(first, session_id=session, run_name="happy_hopper", timezone="UTC")
    [resumed] = ingest_quietly(DATA / "scisoseq_trace.txt", session_id=session, run_name="sad_turing", timezone="UTC")
    assert (resumed.cached, resumed.cached_linked, resumed.executed) == (6, 6, 2)
    assert resumed.run.initiated_runs.count() == 2  # cached tasks are not new executions
    assert sorted(resumed.run.aux["cached_task_runs"]) == sorted(r.uid for r in orig.run.initiated_runs.all())
    assert ln.Run.filter(reference=session).count() == 2  # two launches of one session
    assert resumed.run.aux["task_counts"]["cached_linked"] == 6


def test_multiline_script_fields(store, tmp_path):
    trace = tmp_path / "trace.txt"
    trace.write_text(
        "task_id\thash\tname\tstatus\tscript\texit\n"
        "1\tab/cdef12\tALIGN (s1)\tCOMPLETED\t\n    bwa mem ref.fa s1.fq \\\n      | samtools sort > s1.bam\n  \t0\n"
        "2\tcd/ef1234\tALIGN (s2)\tCOMPLETED\techo 'a\tb'\t0\n"
    )
    [result] = ingest_quietly(trace, session_id="00000000-0000-0000-0000-00000000000a", timezone="UTC")
    assert result.tasks == 2
    s1 = ln.Run.get(name="ALIGN (s1)")
    assert "samtools sort > s1.bam" in s1.aux["script"] and s1.aux["exit"] == 0
    assert ln.Run.get(name="ALIGN (s2)").aux["script"] == "echo 'a\tb'"


def test_killed_run_with_pending_tasks_is_aborted(store, tmp_path):
    trace = tmp_path / "trace.txt"
    trace.write_text(
        HEADER
        + "\n"
        + "1\tab/cdef12\t1\tA (1)\tCOMPLETED\t0\t2026-01-01 10:00:00.000\t1s\t1s\t100%\t1 MB\t2 MB\t0\t0\n"
        "2\tcd/ef1234\t2\tA (2)\tRUNNING\t-\t2026-01-01 10:00:01.000\t-\t-\t-\t-\t-\t-\t-\n"
        "3\tef/123456\t-\tA (3)\tNEW\t-\t-\t-\t-\t-\t-\t-\t-\t-\n"
    )
    [result] = ingest_quietly(trace, timezone="UTC")
    assert result.run.status == "aborted" and result.run.reference_type == "nextflow_trace"
    assert ln.Run.get(name="A (2)").status == "started" and ln.Run.get(name="A (3)").status == "scheduled"


def test_dry_run_writes_nothing(store, openproblems_launch):
    before = store_counts()
    [result] = ingest(openproblems_launch, dry_run=True)
    assert result.tasks == 217 and result.run is None and store_counts() == before


GOOD_ROW = "1\tab/cdef12\t1\tA (1)\tCOMPLETED\t0\t2026-01-01 10:00:00.000\t1s\t1s\t100%\t1 MB\t2 MB\t0\t0"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            HEADER + "\n" + GOOD_ROW + "\n" + GOOD_ROW.replace("ab/cdef12", "cd/ef1234")[:40],
            r"trace.txt:3: the last line has 7 of 14 fields and no line end: the file is truncated",
        ),
        (
            HEADER + "\n" + GOOD_ROW[:40] + "\n" + GOOD_ROW + "\n",
            r"trace.txt:2: 7 fields where the header has 14 \(wrong separator or a cut line\?\)",
        ),
        (HEADER.replace("\t", ",") + "\n" + GOOD_ROW + "\n", r"trace.txt:2: 1 fields where the header has 14"),
        (HEADER + "\tcolour\n" + GOOD_ROW + "\tred\n", r"trace.txt:1: field 'colour': not a Nextflow trace field"),
        (
            HEADER + "\n" + GOOD_ROW.replace("1 MB", "12.3 XB") + "\n",
            r"trace.txt:2: field 'peak_rss': cannot parse '12.3 XB'",
        ),
        (
            HEADER + "\n" + GOOD_ROW.replace("COMPLETED", "EXPLODED") + "\n",
            r"trace.txt:2: field 'status': unknown status 'EXPLODED'",
        ),
        (
            HEADER + "\n" + GOOD_ROW.replace("2026-01-01", "01/01/2026") + "\n",
            r"trace.txt:2: field 'submit': cannot parse",
        ),
        ("", r"trace.txt:1: empty file"),
    ],
)
def test_bad_traces_give_one_clear_error_and_write_nothing(store, tmp_path, content, message):
    trace = tmp_path / "trace.txt"
    trace.write_text(content)
    before = store_counts()
    with pytest.raises(TraceError, match=message):
        ingest_quietly(trace, timezone="UTC")
    assert store_counts() == before


def test_non_utf8_bytes(store, tmp_path):
    trace = tmp_path / "trace.txt"
    trace.write_bytes(
        (HEADER + "\n" + GOOD_ROW + "\n").encode()
        + b"2\tcd/ef1234\t2\tB \xff\xfe\tCOMPLETED\t0\t-\t-\t-\t-\t-\t-\t-\t-\n"
    )
    before = store_counts()
    with pytest.raises(TraceError, match=r"trace.txt:3: bytes that are not UTF-8"):
        ingest_quietly(trace, timezone="UTC")
    assert store_counts() == before


def test_error_in_the_middle_leaves_no_partial_launch(store, tmp_path):
    rows = [
        GOOD_ROW.replace("\t1\tA (1)", f"\t{i}\tA ({i})").replace("1\tab/cdef12", f"{i}\t{i % 256:02x}/{i:06x}", 1)
        for i in range(1, 12001)
    ]
    rows[11_000] = rows[11_000].replace("1 MB", "lots")
    trace = tmp_path / "trace.txt"
    trace.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(TraceError, match="trace.txt:11002: field 'peak_rss'"):
        ingest_quietly(trace, timezone="UTC")
    assert store_counts() == (0, 0, 0)


def test_directory_without_a_trace(store, tmp_path):
    with pytest.raises(IngestError, match="no trace file here"):
        ingest(tmp_path)


def test_cli_ingest_and_errors(store, openproblems_launch, tmp_path):
    from typer.testing import CliRunner

    from flowprov.cli import app, ingest_app

    runner = CliRunner()
    result = runner.invoke(ingest_app, [str(openproblems_launch), "--db", store.url, "--json"])
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.output)
    assert summary["run_name"] == "loving_blackwell" and summary["tasks"] == 217
    # no --json, but the output is not a terminal: JSON all the same
    again = runner.invoke(app, ["nextflow", "ingest", str(openproblems_launch), "--db", store.url])
    assert again.exit_code == 0, again.output
    [summary_again] = json.loads(again.output)
    assert summary_again["run_name"] == "loving_blackwell" and summary_again["tasks"] == 217
    bad = tmp_path / "bad.txt"
    bad.write_text(HEADER + "\n" + GOOD_ROW.replace("1 MB", "12.3 XB") + "\n")
    failed = runner.invoke(ingest_app, [str(bad), "--db", store.url, "--timezone", "UTC"])
    assert failed.exit_code == 2 and "bad.txt:2: field 'peak_rss': cannot parse '12.3 XB'" in failed.output


@pytest.mark.parametrize("fail", [False, True])
def test_nextflow_run_wrapper_with_a_stand_in(store, tmp_path, fail):
    bin_dir = install_stand_in(tmp_path / "bin")
    work = tmp_path / "launch"
    work.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FLOWPROV_DB": store.url}
    args = [
        sys.executable,
        "-m",
        "flowprov.cli",
        "nextflow",
        "run",
        "nf-core/hello",
        "--greeting",
        "hi",
        "--webin_password",
        "x",
    ] + (["--fail"] if fail else [])
    result = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == (1 if fail else 0), result.stderr
    assert "N E X T F L O W" in result.stdout
    run = ln.Run.get(reference="12345678-1234-1234-1234-123456789abc")
    assert run.name.startswith("flowprov_") and run.status == ("errored" if fail else "completed")
    assert run.transform.key == "nf-core/hello"
    assert "--webin_password '***'" in run.aux["command"] or "--webin_password ***" in run.aux["command"]
    assert run.initiated_runs.count() == 2
    # recorded live through -with-weblog (the stand-in POSTs what Nextflow would), then merged by the ingest
    assert result.stderr.count("-with-weblog http://127.0.0.1:") == 1
    assert run.aux["nextflow_version"] == "stand-in" and run.aux["trace_file"].endswith(".txt")
    assert run.params["greeting"] == "hi"
    task = run.initiated_runs.get(name="SAY_HELLO (1)")
    assert task.aux["peak_rss_bytes"] == 31247565 and task.aux["trace_line"] == 2
    assert ln.Run.filter(reference_type="nextflow_task_hash").count() == 2


def test_nextflow_run_without_nextflow(store, tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "FLOWPROV_DB": store.url}
    result = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "nextflow", "run", "main.nf"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 127 and "`nextflow` is not on PATH" in result.stderr


def _work(root: Path, full: str) -> Path:
    path = root / "work" / full[:2] / full[2:]
    path.mkdir(parents=True)
    return path


def _command_run(staging: list[tuple[str, str]]) -> str:
    lines = "\n".join(f"    ln -s {src} {name}" for src, name in staging)
    return f"#!/bin/bash\nnxf_stage() {{\n    true\n    # stage input files\n{lines}\n}}\n\nnxf_unstage() {{\n    true\n}}\n"


def test_work_dirs_outdir_and_cache_index(store, tmp_path):
    """Task files from work dirs link two tasks; published files are matched by content."""
    launch = tmp_path / "launch"
    raw = launch / "data" / "raw.txt"
    raw.parent.mkdir(parents=True)
    raw.write_text("raw reads\n")
    h1, h2, h3 = "ab" + "1" * 30, "cd" + "2" * 30, "ef" + "3" * 30
    w1, w2 = _work(launch, h1), _work(launch, h2)
    (w1 / ".command.sh").write_text("#!/bin/bash\ntr a-z A-Z < raw.txt > upper.txt\n")
    (w1 / ".command.run").write_text(_command_run([(str(raw), "raw.txt")]))
    (w1 / "raw.txt").symlink_to(raw)
    (w1 / "upper.txt").write_text("RAW READS\n")
    (w1 / ".exitcode").write_text("0")
    (w1 / ".command.trace").write_text("nextflow.trace/v2\nrealtime=1200\n%cpu=983\npeak_rss=2048\n")
    (w2 / ".command.sh").write_text("#!/bin/bash\nrev upper.txt > final.txt\n")
    (w2 / ".command.run").write_text(_command_run([(str(w1 / "upper.txt"), "upper.txt")]))
    (w2 / "upper.txt").symlink_to(w1 / "upper.txt")
    (w2 / "final.txt").write_text("SDAER WAR\n")
    outdir = launch / "results"
    outdir.mkdir()
    (outdir / "final.txt").write_text("SDAER WAR\n")  # published copy
    (outdir / "multiqc_report.html").write_text("<html/>")  # made by no task we know
    session, name = "99999999-8888-7777-6666-555555555555", "eager_turing"
    index = launch / ".nextflow" / "cache" / session / f"index.{name}"
    index.parent.mkdir(parents=True)
    index.write_bytes(b"".join(bytes.fromhex(h) + b"\x00" for h in (h1, h2, h3)))
    trace = launch / "trace.txt"
    trace.write_text(
        "task_id\thash\tname\tstatus\texit\tsubmit\tworkdir\n"
        f"1\tab/111111\tUPPER (1)\tCOMPLETED\t0\t2026-01-01 10:00:00.000\t{w1}\n"
        f"2\tcd/222222\tREVERSE (1)\tCOMPLETED\t0\t2026-01-01 10:00:05.000\t-\n"
        f"3\tef/333333\tREPORT (1)\tCOMPLETED\t0\t2026-01-01 10:00:09.000\t-\n"
    )
    [result] = ingest(trace, session_id=session, run_name=name, timezone="UTC", outdir=outdir)
    store.session.expunge_all()
    upper = ln.Run.get(reference=h1)
    reverse = ln.Run.get(reference=h2)  # found through --work-dir default (./work) and the full hash
    assert ln.Run.get(name="REPORT (1)").reference == h3  # the cache index gave the full hash
    assert (
        upper.aux["command_sh"].endswith("> upper.txt\n")
        and upper.aux["cpu_percent"] == 98.3
        and upper.aux["realtime_ms"] == 1200
        and upper.aux["exit"] == 0
    )
    assert [a.uri for a in upper.input_artifacts] == [raw.as_uri()]
    assert [a.uri.rsplit("/", 1)[-1] for a in upper.output_artifacts] == ["upper.txt"]
    assert [a.id for a in reverse.input_artifacts] == [a.id for a in upper.output_artifacts]  # task-to-task
    [final] = reverse.output_artifacts.all().list()
    assert final.uri == (outdir / "final.txt").as_uri()  # published: same bytes, last known location
    launch_run = result.run
    assert [a.uri.rsplit("/", 1)[-1] for a in ln.Run.get(launch_run.uid).output_artifacts] == ["multiqc_report.html"]
    lineage = final.view_lineage()
    assert {r.name for r in lineage.runs} == {"UPPER (1)", "REVERSE (1)"} and raw.as_uri() in {
        a.uri for a in lineage.artifacts
    }
    before = store_counts()
    ingest(trace, session_id=session, run_name=name, timezone="UTC", outdir=outdir)
    assert store_counts() == before


def test_a_real_work_dir_found_by_short_hash(store, tmp_path):
    work = tmp_path / "work" / "00" / "02079f69661eaa3855105fdf24b5f7"
    shutil.copytree(DATA / "wfcommons_workdir_00-02079f", work)
    trace = tmp_path / "trace.txt"
    trace.write_text(
        HEADER
        + "\n"
        + "1\t00/02079f\t7\tDEMUX_SUMMARY (1)\tCOMPLETED\t0\t2021-01-01 10:00:00.000\t12s\t12s\t-\t-\t-\t-\t-\n"
    )
    [result] = ingest_quietly(
        trace, session_id="11111111-1111-1111-1111-111111111111", timezone="UTC", work_dir=tmp_path / "work"
    )
    task = ln.Run.get(initiated_by_run=result.run)
    assert task.reference == "0002079f69661eaa3855105fdf24b5f7"
    assert "qiime demux summarize" in task.aux["command_sh"]
    assert (
        task.aux["cpu_percent"] == 98.3
        and task.aux["peak_rss_bytes"] == 340036 * 1024
        and task.aux["mem_percent"] == 16.6
    )
    assert task.input_artifacts.count() == 0  # the staged input was on the original machine


def test_lineage_store(store, tmp_path):
    """The real lineage store of the Nextflow training (26.04): identity, params, script, files."""
    launch = tmp_path / "launch"
    shutil.copytree(DATA / "training_lineage_store", launch / ".lineage")
    produced = tmp_path / "work" / "UPPER-Ciao-output.txt"
    produced.parent.mkdir()
    produced.write_text("CIAO\n")
    record = launch / ".lineage" / "5f4fa3256b218126530cd02dc45dfd46" / "UPPER-Ciao-output.txt" / ".data.json"
    data = json.loads(record.read_text())
    data["spec"]["path"] = str(produced)  # the file as it lies on this machine
    record.chmod(0o644)
    record.write_text(json.dumps(data))
    (launch / "trace.txt").write_text(
        HEADER
        + "\n"
        + "1\t5f/4fa325\t7\tCONVERTTOUPPER (1)\tCOMPLETED\t0\t2026-06-15 11:09:38.000\t1s\t1s\t-\t-\t-\t-\t-\n"
    )
    [result] = ingest_quietly(launch, timezone="Europe/Rome")
    assert (result.run_name, result.session_id) == ("elegant_davinci", "3a535bd4-dda0-49d7-b77a-e8ade8f9fab9")
    assert result.identity_source["run_name"] == "lineage store" and result.pipeline == "main.nf"
    run = ln.Run.get(result.run.uid)
    assert run.params.get_values() == {"input": "data/greetings.csv"}
    task = ln.Run.get(reference="5f4fa3256b218126530cd02dc45dfd46")
    assert "tr '[a-z]' '[A-Z]'" in task.aux["script"]
    assert [a.uri for a in task.output_artifacts] == [produced.as_uri()]


def test_wrapper_keeps_a_weblog_url_the_user_gave(tmp_path):
    from flowprov.integrations.nextflow.wrapper import build_command

    mine, *_ = build_command("nextflow", "main.nf", ["-with-weblog", "http://collector:4567/"], tmp_path, None)
    assert mine.count("-with-weblog") == 1 and "http://collector:4567/" in mine
    added, *_ = build_command("nextflow", "main.nf", [], tmp_path, "http://127.0.0.1:5000/")
    assert added[added.index("-with-weblog") + 1] == "http://127.0.0.1:5000/"
