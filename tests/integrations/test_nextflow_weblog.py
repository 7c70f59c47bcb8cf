"""Live Nextflow recording: weblog messages POSTed to a real `flowprov nextflow serve`, both stores.

The messages are the real ones from Nextflow's documentation and from public repositories that
captured them (tests/data/nextflow/weblog/, sources in SOURCES.tsv), and whole launches made from
the real trace files in tests/data/nextflow (every row -> submitted/started/completed in raw
units). The live records must be the records the trace ingest makes of the same launch.
"""

from __future__ import annotations

import json
import shutil
import signal
import warnings
from pathlib import Path
from typing import Any

import pytest

import flowprov as ln
from flowprov.integrations.nextflow import ingest
from flowprov.integrations.nextflow.software_versions import read_versions
from tests.conftest import REPO
from tests.integrations.nextflow_weblog_messages import ServeProcess, launch_messages

DATA = REPO / "tests" / "data" / "nextflow"
WEBLOG = DATA / "weblog"
SESSION = "5c1c0e5e-3b8c-4d52-9a43-4a8d3f7a2b10"
TASK = "nextflow_task_hash"
FILE_ONLY_TASK_AUX = ("trace_line",)  # the trace file's line number: only a file has one

# real trace files: (file, pipeline) - every kind of row the trace ingest handles
LAUNCHES = {
    "viralrecon": ("nf_core/viralrecon_execution_trace_2023-10-23_16-45-58.txt", "nf-core/viralrecon"),
    "openproblems_retries": ("openproblems_loving_blackwell_trace.txt", "openproblems-bio/openproblems"),
    "sarek_resume": ("nf_core/sarek_execution_trace_2025-07-22_14-06-42.txt", "nf-core/sarek"),
    "bu_isciii_duplicates": ("bu-isciii_sarscov2_trace.txt", "BU-ISCIII/SARS_Cov2_assembly-nf"),
    "chipseq_failed": ("chipseq-jianhong_trace.txt", "jianhong/chipseq"),
    "mados_raw_all_fields": ("mados_slurmsetup_trace.csv", "nf-core/chipseq"),
    "scisoseq_cached_failed": ("scisoseq_trace.txt", "nf-core/scisoseq"),
}


def lay_out(tmp_path: Path, trace_name: str, name: str) -> tuple[Path, Path]:
    """A launch directory with the trace in results/pipeline_info/, as Nextflow leaves it."""
    launch = tmp_path / name
    info = launch / "results" / "pipeline_info"
    info.mkdir(parents=True)
    trace = info / Path(trace_name).name
    shutil.copy(DATA / trace_name, trace)
    return launch, trace


def file_ingest(trace: Path, run_name: str, pipeline: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest(trace, run_name=run_name, session_id=SESSION, pipeline=pipeline, timezone="UTC")


def snapshot(launch_aux: bool = False, launch_end: bool = True) -> dict[tuple, dict[str, Any]]:
    """Every run of the store by identity, with the fields both ways of recording must agree on.

    `launch_end=False` leaves out the launch's end: a trace without `complete` times (and no
    history beside it) does not say when the launch ended, so the file ingest uses the time it ran.
    """
    out = {}
    for run in ln.Run.filter().list():
        env = run.environment
        record = {
            "status": run.status,
            # a task whose trace row has no times at all starts when it was recorded, whichever way
            "started_at": run.started_at if (run.aux or {}).get("submit") or run.reference_type != TASK else None,
            "finished_at": run.finished_at,
            "params": run.params.get_values(),
            "transform": (run.transform.key, run.transform.version_tag, run.transform.type),
            "parent": (run.initiated_by_run.reference, run.initiated_by_run.name) if run.initiated_by_run else None,
            "environment": env.hash if env is not None else None,
        }
        if run.reference_type == "nextflow_task_hash":
            record["aux"] = {k: v for k, v in (run.aux or {}).items() if k not in FILE_ONLY_TASK_AUX}
        else:
            if launch_aux:
                record["aux"] = run.aux
            if not launch_end:
                del record["finished_at"]
        out[(run.reference_type, run.reference, run.name)] = record
    return out


def differences(got: dict[tuple, dict[str, Any]], want: dict[tuple, dict[str, Any]]) -> list[str]:
    """What differs, field by field (empty when both are the same records)."""
    out = [f"only in one: {k}" for k in set(got) ^ set(want)]
    for key in set(got) & set(want):
        for name in set(got[key]) | set(want[key]):
            a, b = got[key].get(name), want[key].get(name)
            if name == "aux" and isinstance(a, dict) and isinstance(b, dict):
                out += [
                    f"{key} aux[{k!r}]: {a.get(k)!r} != {b.get(k)!r}" for k in set(a) | set(b) if a.get(k) != b.get(k)
                ]
            elif a != b:
                out.append(f"{key} {name}: {a!r} != {b!r}")
    return sorted(out)


def store_counts() -> tuple[int, int, int]:
    return ln.Run.filter().count(), ln.Transform.filter().count(), ln.Artifact.filter().count()


def record_live(store_url: str, tmp_path: Path, messages: list[dict[str, Any]]) -> str:
    server = ServeProcess(store_url, tmp_path)
    server.post_all(messages)
    return server.stop()


# -- a launch recorded live equals its file ingest ------------------------------------------------


@pytest.mark.parametrize("launch", sorted(LAUNCHES))
def test_live_launch_equals_file_ingest(store, store_url, tmp_path, launch):
    trace_name, pipeline = LAUNCHES[launch]
    launch_dir, trace = lay_out(tmp_path, trace_name, launch)
    messages = launch_messages(trace, session=SESSION, run_name=launch, pipeline=pipeline, launch_dir=launch_dir)
    log = record_live(store_url, tmp_path, messages)
    assert "400" not in log, log
    end = "complete" in trace.read_text().splitlines()[0]
    live = snapshot(launch_end=end)
    live_uids = {r.uid for r in ln.Run.filter().list()}
    counts = store_counts()
    assert len(live) == 1 + len({(m["trace"]["hash"], m["trace"].get("name")) for m in messages if "trace" in m})

    # ingesting the trace after the live run adds nothing: same runs (same uids), same fields
    file_ingest(trace, launch, pipeline)
    assert store_counts() == counts
    assert {r.uid for r in ln.Run.filter().list()} == live_uids
    assert not (diff := differences(snapshot(launch_end=end), live)), "\n".join(diff)

    # and the file ingest alone, in a fresh store, makes the same records
    from flowprov.core.store.connection import disconnect_all

    disconnect_all()
    ln.connect(f"sqlite:///{tmp_path / 'file-only.db'}")
    file_ingest(trace, launch, pipeline)
    assert not (diff := differences(snapshot(launch_end=end), live)), "\n".join(diff)
    assert store_counts() == counts


def test_software_versions_give_each_process_its_environment(store, store_url, tmp_path):
    trace_name, pipeline = LAUNCHES["viralrecon"]
    launch_dir, trace = lay_out(tmp_path, trace_name, "viralrecon")
    shutil.copy(DATA / "nf_core" / "viralrecon_software_versions.yml", trace.parent / "software_versions.yml")
    messages = launch_messages(
        trace,
        session=SESSION,
        run_name="viralrecon",
        pipeline=pipeline,
        params={"outdir": "results"},
        launch_dir=launch_dir,
    )
    record_live(store_url, tmp_path, messages)
    launch = ln.Run.get(reference=SESSION, name="viralrecon")
    tasks = {run.name: run for run in launch.initiated_runs.list()}
    fastqc = tasks["NFCORE_VIRALRECON:ILLUMINA:FASTQ_TRIM_FASTP_FASTQC:FASTQC_RAW (ERR5556343)"]
    bowtie = tasks["NFCORE_VIRALRECON:ILLUMINA:FASTQ_ALIGN_BOWTIE2:BOWTIE2_ALIGN (ERR5405022)"]
    assert json.loads(Path(fastqc.environment.uri.removeprefix("file://")).read_text())["tools"] == {"fastqc": "0.11.9"}
    bowtie_env = json.loads(Path(bowtie.environment.uri.removeprefix("file://")).read_text())
    assert bowtie_env == {
        "process": "NFCORE_VIRALRECON:ILLUMINA:FASTQ_ALIGN_BOWTIE2:BOWTIE2_ALIGN",
        "tools": {"bowtie2": "2.4.4", "pigz": "2.6", "samtools": "1.16.1"},
    }
    # tasks of one process share one environment record; every task has one
    fastqc_runs = [r for n, r in tasks.items() if ":FASTQC_RAW (" in n]
    assert len({r.environment.uid for r in fastqc_runs}) == 1 and len(fastqc_runs) == 5
    versions = read_versions(trace.parent / "software_versions.yml")
    for run in tasks.values():  # a process nf-core lists has its environment; one it does not list, none
        listed = run.transform.name.rsplit(":", 1)[-1] in versions
        assert (run.environment is not None) == listed, run.name
    assert sum(r.environment is not None for r in tasks.values()) > 150
    listing = json.loads(Path(launch.environment.uri.removeprefix("file://")).read_text())
    assert listing["workflow"] == {"Nextflow": "23.04.4", "nf-core/viralrecon": "2.6.0"}
    assert len(listing["processes"]) == len({r.transform.key for r in tasks.values() if r.environment is not None})
    live = snapshot(launch_end=False)
    file_ingest(trace, "viralrecon", pipeline)  # the file ingest reads the same file: nothing changes
    assert not (diff := differences(snapshot(launch_end=False), live)), "\n".join(diff)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("viralrecon_software_versions.yml", {"IVAR_TRIM": {"ivar": "1.4"}, "GUNZIP_GFF": {"gunzip": "1.10"}}),
        (
            "sarek_nf_core_sarek_software_mqc_versions.yml",
            {
                "BWAMEM1_MEM": {"bwa": "0.7.18-r1243-dirty", "samtools": "1.2"},
                "GATK4_MARKDUPLICATES": {"gatk4": "4.5.0.0", "samtools": "1.19.2"},
            },
        ),
        (
            "rnaseq_nf_core_rnaseq_software_mqc_versions.yml",
            {
                "TRIMGALORE": {"trimgalore": "0.6.7", "cutadapt": "3.4"},
                "Workflow": {"nf-core/rnaseq": "v3.16.0-g33df0c0", "Nextflow": "24.04.4"},
            },
        ),
    ],
)
def test_real_nf_core_versions_files(name, expected):
    versions = read_versions(DATA / "nf_core" / name)
    for process, tools in expected.items():
        assert versions[process] == tools


def test_container_is_part_of_the_environment(store, store_url, tmp_path):
    """mados' trace names each task's container: it is in aux and in that process's environment."""
    trace_name, pipeline = LAUNCHES["mados_raw_all_fields"]
    launch_dir, trace = lay_out(tmp_path, trace_name, "mados")
    (trace.parent / "software_versions.yml").write_text("SAMPLESHEET_CHECK:\n  python: 3.8.3\n")
    messages = launch_messages(
        trace, session=SESSION, run_name="mados", pipeline=pipeline, params={"outdir": "results"}, launch_dir=launch_dir
    )
    record_live(store_url, tmp_path, messages)
    task = ln.Run.get(name="NFCORE_CHIPSEQ:CHIPSEQ:INPUT_CHECK:SAMPLESHEET_CHECK (samplesheet_test.csv)")
    assert task.aux["container"] == "quay.io/biocontainers/python:3.8.3"
    env = json.loads(Path(task.environment.uri.removeprefix("file://")).read_text())
    assert env["tools"] == {"python": "3.8.3"} and env["container"] == {"image": "quay.io/biocontainers/python:3.8.3"}


# -- real captured messages -----------------------------------------------------------------------


def _envelope(event: str, body_file: str, key: str) -> dict[str, Any]:
    body = json.loads((WEBLOG / body_file).read_text())
    return {"runName": "serene_babbage", "runId": "1e01c1a6-06d5-45b8-8134-31e4271c3c22", "event": event, key: body}


def test_real_messages_are_recorded(store, store_url, tmp_path):
    docs_started = (WEBLOG / "nextflow_docs_started.json").read_text()
    server = ServeProcess(store_url, tmp_path)
    # the documentation's own example is not valid JSON (a trailing comma): 400, nothing written
    code, reason = server.post_body(docs_started.encode())
    assert code == 400 and reason.startswith("not JSON: ") and "line 70" in reason
    lines = docs_started.splitlines()
    assert lines[69].strip() == "},"  # the stray brace that closes `workflow` too early
    repaired = "\n".join(lines[:69] + lines[70:])
    captured = (
        "nextflow_docs_process_completed.json",
        "nf_dashboard_dj_started.json",
        "nf_dashboard_dj_process_completed.json",
        "nf_dashboard_dj_completed.json",
    )
    for body in [repaired, *((WEBLOG / f).read_text() for f in captured)]:
        assert server.post_body(body.encode())[0] == 200
    for event, body_file, key in (
        ("started", "batchman_started_metadata.json", "metadata"),
        ("process_submitted", "batchman_process_submitted_trace.json", "trace"),
        ("process_started", "batchman_process_started_trace.json", "trace"),
        ("process_completed", "batchman_process_completed_trace.json", "trace"),
        ("completed", "batchman_completed_metadata.json", "metadata"),
    ):
        assert server.post(_envelope(event, body_file, key))[0] == 200
    log = server.stop()
    assert log.count("400 from") == 1

    hlatyping = ln.Run.get(reference="170aa09c-105f-49d0-99b4-8eb6a146e4a7", name="friendly_pesquet")
    assert (
        hlatyping.transform.key == "nf-core/hlatyping"
        and hlatyping.transform.version_tag == "4bcced898ee23600bd8c249ff085f8f88db90e7c"
    )
    assert hlatyping.params["reads"] == "data/test*{1,2}.fq.gz" and hlatyping.aux["nextflow_version"] == "19.03.0-edge"
    task = hlatyping.initiated_runs.get(name="make_ot_config")
    assert task.reference == "a10024fd028375e2b601aaed44d112e3" and task.status == "completed"
    assert (
        task.aux["memory_bytes"] == 7516192768 and task.aux["duration_ms"] == 201101 and task.aux["cpu_percent"] == 0.0
    )
    assert task.aux["container"] == "nfcore/hlatyping:1.1.1" and task.aux["time_limit_ms"] == 7200000

    old = ln.Run.get(reference="ab3882b5-bc08-45a1-aff0-45c0173e5b17")  # runStatus-era messages, no metadata
    assert old.name == "distraught_shaw" and old.status == "completed"

    batchman = ln.Run.get(reference="1e01c1a6-06d5-45b8-8134-31e4271c3c22", name="serene_babbage")
    assert batchman.status == "completed" and batchman.aux["stats"]["succeedCount"] == 2
    assert "W172GB" not in json.dumps(batchman.aux) and "weblog?key=***" in batchman.aux["command"]
    fastqc = batchman.initiated_runs.get(name="fastqc (1)")
    assert fastqc.status == "completed" and fastqc.aux["exit"] == 0 and fastqc.aux["realtime_ms"] == 160048
    assert fastqc.started_at.isoformat().startswith("2019-10-02T16:26:10.702")  # start, not the submitted 'start: 0'


# -- restarts, resume, retries ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_receiver_restarted_mid_launch(store, store_url, tmp_path, how):
    trace_name, pipeline = LAUNCHES["openproblems_retries"]
    launch_dir, trace = lay_out(tmp_path, trace_name, "restart")
    messages = launch_messages(trace, session=SESSION, run_name="restart", pipeline=pipeline, launch_dir=launch_dir)
    half = len(messages) // 2
    first = ServeProcess(store_url, tmp_path)
    first.post_all(messages[:half])
    first.stop(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    record_live(store_url, tmp_path, messages[half:])
    if how == "sigkill":  # what the killed receiver had not written yet, the trace fills
        file_ingest(trace, "restart", pipeline)
    names = [(r.reference, r.name) for r in ln.Run.filter(reference_type="nextflow_task_hash").list()]
    assert (
        len(names)
        == len(set(names))
        == len({(m["trace"]["hash"], m["trace"].get("name")) for m in messages if "trace" in m})
    )
    launch = ln.Run.get(reference=SESSION, name="restart")
    assert launch.status == "completed" and launch.transform.key == pipeline
    expected = snapshot(launch_end=False)
    # the same as a file ingest of the launch, in a fresh store
    from flowprov.core.store.connection import disconnect_all

    disconnect_all()
    ln.connect(f"sqlite:///{tmp_path / 'file-only.db'}")
    file_ingest(trace, "restart", pipeline)
    assert not (diff := differences(snapshot(launch_end=False), expected)), "\n".join(diff)


def test_resume_links_cached_tasks_to_the_first_launch(store, store_url, tmp_path):
    """Two launches of one session: the -resume one's CACHED tasks point at the first launch's runs."""
    launch_dir, trace = lay_out(tmp_path, "scisoseq_trace.txt", "first")
    rows = trace.read_text().splitlines()
    first_trace = trace.with_name("first.txt")
    first_trace.write_text(
        "\n".join(rows[:1] + [r.replace("CACHED", "COMPLETED") for r in rows[1:] if "CACHED" in r]) + "\n"
    )
    record_live(
        store_url,
        tmp_path,
        launch_messages(first_trace, session=SESSION, run_name="first", pipeline="nf-core/scisoseq"),
    )
    record_live(
        store_url, tmp_path, launch_messages(trace, session=SESSION, run_name="resumed", pipeline="nf-core/scisoseq")
    )
    resumed = ln.Run.get(reference=SESSION, name="resumed")
    first = ln.Run.get(reference=SESSION, name="first")
    assert sorted(resumed.aux["cached_task_runs"]) == sorted(r.uid for r in first.initiated_runs.list())
    assert resumed.initiated_runs.count() == len(rows) - 1 - len(resumed.aux["cached_task_runs"])
    counts, live = store_counts(), snapshot(launch_end=False)
    file_ingest(trace, "resumed", "nf-core/scisoseq")
    assert store_counts() == counts
    assert not (diff := differences(snapshot(launch_end=False), live)), "\n".join(diff)


def test_retries_are_linked_as_in_the_trace_ingest(store, store_url, tmp_path):
    trace_name, pipeline = LAUNCHES["openproblems_retries"]
    launch_dir, trace = lay_out(tmp_path, trace_name, "retries")
    record_live(store_url, tmp_path, launch_messages(trace, session=SESSION, run_name="retries", pipeline=pipeline))
    retried = [r for r in ln.Run.filter(reference_type="nextflow_task_hash").list() if (r.aux or {}).get("retry_of")]
    assert len(retried) >= 4
    for run in retried:
        failed = ln.Run.get(reference=run.aux["retry_of"]) if len(run.aux["retry_of"]) == 32 else None
        failed = (
            failed or [r for r in ln.Run.filter(name=run.name).list() if r.aux.get("hash") == run.aux["retry_of"]][0]
        )
        assert (
            failed.status == "errored" and failed.name == run.name and run.aux["attempt"] > failed.aux.get("attempt", 1)
        )


# -- bad messages -------------------------------------------------------------------------------

BAD = {
    "not JSON": (b"runName=x&event=started", "not JSON: "),
    "not an object": (b'["started"]', "a weblog message is a JSON object"),
    "unknown event": (
        json.dumps({"runId": SESSION, "runName": "x", "event": "process_paused"}).encode(),
        "unknown event 'process_paused'",
    ),
    "missing runId": (json.dumps({"runName": "x", "event": "started"}).encode(), "field 'runId'"),
    "runId not text": (json.dumps({"runId": 7, "event": "started"}).encode(), "field 'runId'"),
    "trace not an object": (
        json.dumps({"runId": SESSION, "event": "process_started", "trace": [1]}).encode(),
        "field 'trace': expected an object",
    ),
    "task without trace": (json.dumps({"runId": SESSION, "event": "process_completed"}).encode(), "without a 'trace'"),
    "wrong type in trace": (
        json.dumps(
            {
                "runId": SESSION,
                "event": "process_completed",
                "trace": {"task_id": 1, "hash": "ab/cdef12", "cpus": {"n": 2}},
            }
        ).encode(),
        "field 'trace.cpus': expected a number",
    ),
    "bad value in trace": (
        json.dumps(
            {
                "runId": SESSION,
                "event": "process_completed",
                "trace": {"task_id": 1, "hash": "ab/cdef12", "status": "DONE"},
            }
        ).encode(),
        "field 'trace.status': unknown status 'DONE'",
    ),
    "bad utcTime": (
        json.dumps({"runId": SESSION, "event": "started", "utcTime": "yesterday"}).encode(),
        "field 'utcTime'",
    ),
    "10 MB body": (b'{"runId": "' + b"x" * (10 * 2**20) + b'", "event": "started"}', "larger than the 8 MiB"),
}


def test_bad_messages_get_400_and_change_nothing(store, store_url, tmp_path):
    server = ServeProcess(store_url, tmp_path)
    good = launch_messages(_small_trace(tmp_path), session=SESSION, run_name="bad", pipeline="p")
    server.post_all(good[:4])
    import time

    time.sleep(2.5)  # the good ones are written behind (batches of up to 1 s): wait for them
    before = snapshot(launch_aux=True), store_counts()
    for label, (body, reason) in BAD.items():
        code, text = server.post_body(body)
        assert code == 400, label
        assert reason in text and text.count("\n") == 1, (label, text)
    log = server.stop()
    assert snapshot(launch_aux=True) == before[0] and store_counts() == before[1]
    assert log.count("400 from 127.0.0.1") == len(BAD) and "Traceback" not in log


def _small_trace(tmp_path: Path) -> Path:
    trace = tmp_path / "small.txt"
    trace.write_text((DATA / "nfbug_trace.txt").read_text())
    return trace


def test_error_event_records_the_failed_task_and_the_launch_fails(store, store_url, tmp_path):
    """`error` carries the trace of the task that stopped the launch; `completed` then says success: false."""
    failed = json.loads((WEBLOG / "batchman_process_completed_trace.json").read_text())
    failed.update(status="FAILED", exit=1, error_action="TERMINATE")
    record_live(
        store_url,
        tmp_path,
        [
            _envelope("started", "batchman_started_metadata.json", "metadata"),
            _envelope("process_submitted", "batchman_process_submitted_trace.json", "trace"),
            {**_envelope("error", "batchman_process_started_trace.json", "trace"), "trace": failed},
            {
                **_envelope("completed", "batchman_completed_metadata.json", "metadata"),
                "metadata": {"workflow": {"success": False, "errorMessage": "fastqc (1) failed"}},
            },
        ],
    )
    launch = ln.Run.get(reference="1e01c1a6-06d5-45b8-8134-31e4271c3c22")
    assert launch.status == "errored" and launch.aux["weblog_errorMessage"] == "fastqc (1) failed"
    task = launch.initiated_runs.get(name="fastqc (1)")
    assert task.status == "errored" and task.aux["exit"] == 1 and task.aux["error_action"] == "TERMINATE"
