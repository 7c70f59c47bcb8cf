"""The recorder adapters write through: idempotency, buffering, parents, files, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

import flowprov as ln
from flowprov.core.tracking.recorder import Recorder, RecorderError, TransformSpec
from flowprov.lineage import locate, upstream


def count_transactions(store):
    """Count write transactions (BEGIN IMMEDIATE on SQLite, READ COMMITTED begins on PostgreSQL)."""
    counter = {"n": 0}

    def on_begin(conn):
        if (
            conn.get_execution_options().get("flowprov_write")
            or conn.get_execution_options().get("isolation_level") == "READ COMMITTED"
        ):
            counter["n"] += 1

    event.listen(store.engine, "begin", on_begin)
    return counter


def record_workflow(rec: Recorder, tmp_path, n_steps: int, status: str = "completed"):
    pipeline = TransformSpec(key="workflows/Snakefile", name="Snakefile", source_code="rule all: ...")
    step = TransformSpec(
        key="workflows/Snakefile#align", name="align", type="step", source_code="bwa mem {input} > {output}"
    )
    wf = rec.open_run(
        pipeline, reference="wf-uuid", reference_type="snakemake_workflow_id", params={"samples": n_steps}
    )
    for i in range(n_steps):
        job = rec.open_run(
            step,
            reference=f"wf-uuid:{i}",
            reference_type="snakemake_job_id",
            name=f"align (sample={i})",
            parent=wf,
            params={"threads": 2},
        )
        src = tmp_path / f"in{i}.fq"
        dst = tmp_path / f"out{i}.bam"
        src.write_text(f"reads {i}")
        dst.write_text(f"aligned {i}")
        job.add_input(src)
        job.add_output(dst)
        rec.close_run(job, "completed")
    rec.close_run(wf, status)
    rec.flush()
    return wf


def test_buffered_workflow_is_few_transactions(store, tmp_path):
    counter = count_transactions(store)
    rec = Recorder(store)
    wf = record_workflow(rec, tmp_path, 200)
    assert counter["n"] <= 3
    run = ln.Run.get(reference="wf-uuid")
    assert run.id == wf.run.id and run.status == "completed" and run.params.get_values() == {"samples": 200}
    assert run.initiated_runs.count() == 200
    job = ln.Run.get(reference="wf-uuid:7")
    assert (
        job.name == "align (sample=7)"
        and job.transform.key == "workflows/Snakefile#align"
        and job.transform.type == "step"
    )
    assert [a.path.name for a in job.input_artifacts] == ["in7.fq"]
    assert [a.path.name for a in job.output_artifacts] == ["out7.bam"]


def test_recording_twice_changes_nothing(store, tmp_path):
    record_workflow(Recorder(store), tmp_path, 5)
    counts = (ln.Run.filter().count(), ln.Artifact.filter().count(), ln.Transform.filter().count())
    record_workflow(Recorder(store), tmp_path, 5)
    assert (ln.Run.filter().count(), ln.Artifact.filter().count(), ln.Transform.filter().count()) == counts
    assert ln.Run.get(reference="wf-uuid:3").input_artifacts.count() == 1


def test_reopening_updates_status_and_merges_params(store, tmp_path):
    rec = Recorder(store)
    spec = TransformSpec(key="flow", name="flow")
    h = rec.open_run(spec, reference="r1", reference_type="prefect_flow_run_id", name="crimson-fox", params={"a": 1})
    rec.flush()
    assert ln.Run.get(reference="r1").status == "started"
    rec2 = Recorder(store)
    h2 = rec2.open_run(
        spec,
        reference="r1",
        reference_type="prefect_flow_run_id",
        name="crimson-fox",
        params={"b": 2},
        status="restarted",
    )
    rec2.close_run(h2, "errored")
    rec2.flush()
    run = ln.Run.get(reference="r1")
    assert run.id == h.run.id and run.status == "errored" and run.params.get_values() == {"a": 1, "b": 2}
    assert ln.Run.filter(reference="r1").count() == 1


def test_automatic_flush_every_n_closed_runs(store, tmp_path):
    rec = Recorder(store, flush_every=10)
    spec = TransformSpec(key="p#s", type="step")
    for i in range(25):
        rec.close_run(rec.open_run(spec, reference=f"t{i}", reference_type="test"))
    assert ln.Run.filter(reference_type="test").count() == 20
    rec.flush()
    assert ln.Run.filter(reference_type="test").count() == 25


def test_unhashable_file_is_refused_at_once(store, tmp_path):
    rec = Recorder(store)
    h = rec.open_run(TransformSpec(key="x"), reference="x", reference_type="test")
    with pytest.raises(RecorderError, match="missing.txt"):
        h.add_input(tmp_path / "missing.txt")


def test_failed_write_keeps_the_buffer(store, tmp_path):
    rec = Recorder(store, retries=0)
    h = rec.open_run(TransformSpec(key="bad", type="not-a-type"), reference="b1", reference_type="test")
    rec.close_run(h)
    with pytest.raises(RecorderError, match="could not write 1 run"):
        rec.flush()
    assert ln.Run.filter(reference="b1").count() == 0 and ln.Transform.filter(key="bad").count() == 0
    h.transform.type = "pipeline"  # fix the cause; the buffered run is still there
    rec.flush()
    assert ln.Run.get(reference="b1").status == "completed"
    spooled = rec.spool(tmp_path / "spool")
    assert spooled.exists()


def test_secrets_in_params_are_redacted(store):
    rec = Recorder(store)
    h = rec.open_run(
        TransformSpec(key="s"), reference="s1", reference_type="test", params={"webin_password": "x", "n": 1}
    )
    rec.flush()
    assert ln.Run.get(reference="s1").params.get_values() == {"webin_password": "***", "n": 1}
    assert h.run is not None


def test_spool_and_replay(store, tmp_path):
    from flowprov.core.tracking.spool import replay_spool

    rec = Recorder(store)
    wf = rec.open_run(TransformSpec(key="wf"), reference="sp1", reference_type="test", params={"a": 1})
    job = rec.open_run(TransformSpec(key="wf#job", type="step"), reference="sp1:1", reference_type="test", parent=wf)
    src = tmp_path / "spooled.txt"
    src.write_text("spooled input")
    job.add_input(src)
    rec.close_run(job)
    rec.close_run(wf, "errored")
    spooled = rec.spool(tmp_path / "spool")
    assert ln.Run.filter(reference_type="test").count() == 0
    assert replay_spool(spooled, store) == (2, 2)
    child = ln.Run.get(reference="sp1:1")
    assert child.initiated_by_run.reference == "sp1" and child.initiated_by_run.status == "errored"
    assert [a.path.name for a in child.input_artifacts] == ["spooled.txt"]
    # idempotent: nothing new the second time
    assert replay_spool(spooled, store) == (0, 2) and ln.Run.filter(reference_type="test").count() == 2


def test_changes_after_a_flush_are_written(store):
    """A run flushed while running and closed later is stored closed (read back from the store)."""
    rec = Recorder(store)
    h = rec.open_run(TransformSpec(key="long"), reference="l1", reference_type="test")
    rec.flush()
    h.add_params({"late": True})
    rec.close_run(h, "errored")
    rec.flush()
    store.session.expunge_all()
    run = ln.Run.get(reference="l1")
    assert run.status == "errored" and run.finished_at is not None and run.params.get_values() == {"late": True}


def test_same_bytes_from_two_runs_of_one_batch_are_linked_to_both(store, tmp_path):
    # The first run owns the artifact; the other notes it in aux. The workflow that also reports
    # the file as its output is the writer's parent, not a second writer, and notes nothing.
    rec = Recorder(store)
    pipeline = TransformSpec(key="Snakefile", name="Snakefile", source_code="rule all: ...")
    step = TransformSpec(key="Snakefile#bench", name="bench", type="step", source_code="echo 0.01 > {output}")
    wf = rec.open_run(pipeline, reference="wf", reference_type="snakemake_workflow_id")
    jobs = []
    for sample in ("a", "b"):
        out = tmp_path / f"{sample}.tsv"
        out.write_text("s\n0.0100\n")  # identical bytes, as Snakemake benchmark files of tiny jobs can be
        job = rec.open_run(
            step, reference=f"wf:{sample}", reference_type="snakemake_job_id", name=f"bench (s={sample})", parent=wf
        )
        job.add_output(out)
        wf.add_output(out)
        rec.close_run(job, "completed")
        jobs.append(job)
    rec.close_run(wf, "completed")
    rec.flush()
    first, second = (ln.Run.get(reference=f"wf:{s}") for s in ("a", "b"))
    [artifact] = ln.Artifact.filter()
    assert artifact.run == first and list(first.output_artifacts) == [artifact]
    # the second job wrote the same bytes at its own path: an output link, a recreating run
    assert list(second.output_artifacts) == [artifact] and list(second.recreated_artifacts) == [artifact]
    assert list(artifact.recreating_runs) == [second] and list(first.recreated_artifacts) == []
    assert ln.Run.get(reference="wf").output_artifacts.count() == 0  # its steps wrote them
    assert "outputs_already_registered" not in (second.aux or {})
    assert upstream(second).runs == [second]
    assert locate(tmp_path / "b.tsv").run == second and locate(tmp_path / "a.tsv").run == first


def test_a_write_rolled_back_after_its_artifacts_were_saved_leaves_no_dangling_ids(store, tmp_path):
    """The first flush fails at the run insert (a parent id that names no run), after the new
    artifacts got ids inside the rolled-back transaction; the second flush must save them again,
    and each lock file must be named by the uid of an artifact that exists."""
    data, lock = tmp_path / "data.txt", tmp_path / "uv.lock"
    data.write_text("bytes\n")
    lock.write_text("version = 1\n")
    (tmp_path / "first.txt").write_text("first\n")
    ln.Artifact(tmp_path / "first.txt").save()  # the store's storage and user rows exist before the failure
    rec = Recorder(store, retries=0)
    run = rec.open_run(TransformSpec(key="etl.py"), reference="r1", reference_type="prefect_flow_run_id", parent=999999)
    run.add_input(data)
    run.add_environment_file(lock)
    with pytest.raises(RecorderError):
        rec.flush()
    assert ln.Artifact.filter().count() == 1 and ln.Run.filter().count() == 0
    run.parent_run_id = None
    rec.flush()
    [stored] = ln.Run.filter(reference="r1").list()
    [read] = stored.input_artifacts.list()
    assert read.size == len("bytes\n") and Path(read.path).name == "data.txt"
    [lock_uid] = stored.aux["environment_files"]
    assert ln.Artifact.get(lock_uid).size == len("version = 1\n")
