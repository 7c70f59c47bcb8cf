"""Soft delete as lamindb does it (lamindb tests/pydata/test_delete.py, test_is_versioned.py, test_run.py):
delete() moves to the trash (branch_id = -1), queries hide it, restore() brings it back,
delete(permanent=True) deletes; identity lookups find trashed records and restore them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app
from flowprov.core.store import connection
from flowprov.core.store.schema import SCHEMA_HEAD, VERSION_TABLE, _alembic_config
from flowprov.core.tracking.recorder import Recorder, TransformSpec
from flowprov.lineage import upstream


@pytest.fixture
def transform(store):
    return ln.Transform(key="pipelines/align.nf", kind="pipeline", source_code="v1").save()


def test_delete_moves_a_run_to_the_trash_and_filters_hide_it(store, transform):
    run = ln.Run(transform, reference="r1", reference_type="test").save()
    kept = ln.Run(transform, reference="r2", reference_type="test").save()
    run.delete()
    assert run.branch_id == -1 and run.id is not None
    assert ln.Run.filter(reference_type="test").list() == [kept]
    assert ln.Run.filter(reference_type="test").count() == 1
    assert ln.Run.filter(branch_id=-1).list() == [run]  # lamindb's way to list the trash
    assert ln.Run.filter(reference_type="test", branch_id=None).count() == 2  # every branch
    assert ln.Run.get(run.uid) == run  # named by uid (or id): found in the trash too
    assert ln.Run.filter(uid=run.uid).one() == run
    assert list(transform.runs.all()) == [kept]  # relations hide the trash as well
    assert ln.Run.df()["uid"].tolist() == [kept.uid]


def test_restore_and_permanent_delete(store, transform):
    run = ln.Run(transform).save()
    run.delete()
    run.restore()
    assert run.branch_id == 1 and ln.Run.filter().list() == [run]
    run.delete()
    with pytest.raises(ValueError, match="already in the trash: delete\\(permanent=True\\)"):
        run.delete()
    uid = run.uid
    run.delete(permanent=True)
    assert run.id is None
    assert ln.Run.filter(uid=uid).count() == 0


def test_queryset_delete_soft_and_permanent(store, transform):
    runs = ln.save([ln.Run(transform, reference=f"bulk-{i}", reference_type="test") for i in range(3)])
    assert ln.Run.filter(reference__startswith="bulk-").delete() == 3
    assert ln.Run.filter(reference__startswith="bulk-").count() == 0
    assert ln.Run.filter(reference__startswith="bulk-", branch_id=-1).count() == 3
    assert runs[0].branch_id == -1  # loaded records see their new branch
    assert ln.Run.filter(reference__startswith="bulk-", branch_id=-1).delete(permanent=True) == 3
    assert ln.Run.filter(reference__startswith="bulk-", branch_id=None).count() == 0
    ln.Run(transform, reference="bulk-x", reference_type="test").save()
    assert ln.Run.filter(reference="bulk-x").delete(permanent=True) == 1
    assert ln.Run.filter(branch_id=None).count() == 0


def test_records_without_a_trash_refuse_soft_delete(store):
    storage = ln.Storage(root="/data/x").save()
    with pytest.raises(ValueError, match="no trash"):
        storage.delete(permanent=False)
    storage.delete()  # Storage, Space and User have no trash: delete() deletes (as in lamindb)
    assert ln.Storage.filter(root="/data/x").count() == 0


def test_trashing_the_latest_version_promotes_the_one_before(store):
    v1 = ln.Transform(key="scripts/qc.py", kind="script", source_code="1").save()
    v2 = ln.Transform(key="scripts/qc.py", kind="script", source_code="2").save()
    v3 = ln.Transform(key="scripts/qc.py", kind="script", source_code="3").save()
    assert [v1.is_latest, v2.is_latest, v3.is_latest] == [False, False, True]
    v3.delete()
    assert [v1.is_latest, v2.is_latest, v3.is_latest] == [False, True, False]
    assert ln.Transform.get(key="scripts/qc.py") == v2
    v3.restore()  # the newest version outside the trash is the head again
    assert [v2.is_latest, v3.is_latest] == [False, True]
    ln.Transform.filter(key="scripts/qc.py").delete()  # all in the trash: the flags stay
    assert ln.Transform.filter(key="scripts/qc.py").count() == 0
    assert ln.Transform.get(v3.uid).is_latest
    v3.delete(permanent=True)
    assert ln.Transform.get(v2.uid).is_latest  # the head is deleted for good: the next one takes over


def test_saving_trashed_content_again_restores_it(store, tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("gene,n\nA,1\n")
    artifact = ln.Artifact(path, key="counts.csv").save()
    artifact.delete()
    again = ln.Artifact(path, key="counts.csv").save()
    assert again == artifact and again.branch_id == 1 and again.is_latest
    transform = ln.Transform(key="t.py", kind="script", source_code="print(1)").save()
    transform.delete()
    assert ln.Transform(key="t.py", kind="script", source_code="print(1)").save() == transform
    assert transform.branch_id == 1
    assert ln.Transform.filter(key="t.py").count() == 1


def test_recording_a_trashed_run_again_restores_it(store, tmp_path):
    # the adapters' idempotency: the same external run recorded again is the same record
    out = tmp_path / "out.txt"
    out.write_text("x")
    spec = TransformSpec(key="Snakefile", name="Snakefile", type="pipeline", source_code="rule all: ...")
    for attempt in range(2):
        recorder = Recorder(store)
        handle = recorder.open_run(spec, reference="wf-1", reference_type="snakemake_workflow_id")
        handle.add_output(out)
        recorder.close_run(handle, "completed")
        recorder.flush()
        if attempt == 0:
            ln.Run.get(reference="wf-1").delete()
            assert ln.Run.filter(reference="wf-1").count() == 0
    assert ln.Run.filter(reference="wf-1", branch_id=None).count() == 1
    run = ln.Run.get(reference="wf-1")
    assert run.branch_id == 1 and [a.path for a in run.output_artifacts.all()] == [out]


def test_lineage_still_walks_through_trashed_runs(store, tmp_path):
    # the trash hides records from queries, not from history: lineage keeps every step
    raw, mid, final = (tmp_path / n for n in ("raw.txt", "mid.txt", "final.txt"))
    raw.write_text("r")
    mid.write_text("m")
    final.write_text("f")
    t = ln.Transform(key="steps", kind="pipeline").save()
    first = ln.Run(t, name="first").save()
    first.input_artifacts.add(ln.Artifact(raw, run=False).save())
    ln.Artifact(mid, run=first).save()
    second = ln.Run(t, name="second").save()
    second.input_artifacts.add(ln.Artifact(mid).save())
    end = ln.Artifact(final, run=second).save()
    first.delete()
    walked = upstream(end)
    assert {r.name for r in walked.runs} == {"first", "second"}


T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def _store_at_0002(url: str) -> None:
    """Schema 0002 (flowprov 0.2) with a transform, a run, an artifact and a collection."""
    from alembic import command

    store = connection.Store(url, check_schema=False)
    at = T0.replace(tzinfo=None) if store.dialect == "sqlite" else T0
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0002_run_artifact_locations")
        for stmt in (
            "INSERT INTO flowprov_transform (id, uid, key, name, type, is_latest, created_at, space_id)"
            " VALUES (1, 'Pipeline0000A000', 'main.nf', 'main.nf', 'pipeline', true, :at, 1)",
            "INSERT INTO flowprov_run (id, uid, reference, reference_type, started_at, created_at, _status_code,"
            " transform_id, space_id) VALUES (1, 'OldRun0000000001', 's-1', 'nextflow_session_id', :at, :at, 0, 1, 1)",
            "INSERT INTO flowprov_artifact (id, uid, suffix, size, hash, _hash_type, path, is_latest, run_id,"
            " created_at, space_id) VALUES (1, 'OldArtifact000000000', '.txt', 1, 'h', 'md5', 'file:///x.txt', true,"
            " 1, :at, 1)",
            "INSERT INTO flowprov_collection (id, uid, key, hash, is_latest, run_id, created_at, space_id)"
            " VALUES (1, 'OldCollection0000000', 'set', 'hc', true, 1, :at, 1)",
            "INSERT INTO flowprov_collection_artifact (collection_id, artifact_id, position) VALUES (1, 1, 0)",
        ):
            conn.execute(text(stmt), {"at": at})
        if store.dialect == "postgresql":
            for name in ("flowprov_transform", "flowprov_run", "flowprov_artifact", "flowprov_collection"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1)"))
    store.dispose()


def test_a_0002_store_migrates_to_soft_delete(store_url):
    _store_at_0002(store_url)
    with pytest.raises(ln.StoreNeedsMigration, match="flowprov migrate"):
        ln.connect(store_url)
    result = CliRunner().invoke(app, ["migrate", "--db", store_url])
    assert result.exit_code == 0, result.output
    store = ln.connect(store_url)
    with store.engine.connect() as conn:
        assert (
            conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
            == SCHEMA_HEAD
            == "0005_run_plan_link_config"
        )
    records = [ln.Transform.get("Pipeline0000A000"), ln.Run.get("OldRun0000000001")]
    records += [ln.Artifact.get("OldArtifact000000000"), ln.Collection.get("OldCollection0000000")]
    assert [r.branch_id for r in records] == [1, 1, 1, 1]  # every stored record is on the main branch
    run = records[1]
    assert run.reference == "s-1" and run.status == "completed" and run.transform == records[0]
    assert records[3].artifacts.all().list() == [records[2]]
    run.delete()
    assert ln.Run.filter(reference="s-1").count() == 0
    run.restore()
    assert ln.Run.filter(reference="s-1").one() == run
    fresh = ln.Run(records[0], reference="s-2", reference_type="nextflow_session_id").save()
    assert fresh.id == 2 and fresh.branch_id == 1


def test_deleting_the_tracked_run_for_good_leaves_nothing_to_finish(store, tmp_path):
    ln.track(key="scripts/cleanup.py")
    ln.context.run.delete(permanent=True)
    path = tmp_path / "later.txt"
    path.write_text("later")
    assert ln.Artifact(path).save().run is None  # no creating run that no longer exists
    ln.finish()  # nothing to finish, and no error
    assert ln.Run.filter(branch_id=None).count() == 0


def test_queryset_update_sets_fields_in_one_statement(store):
    kept = ln.Transform(key="a", kind="script").save()
    moved = ln.Transform(key="b", kind="script").save()
    assert ln.Transform.filter(key="b").update(description="moved", kind="notebook") == 1
    assert (moved.description, moved.kind) == ("moved", "notebook")  # loaded records read it again
    assert kept.description is None
    assert ln.Transform.filter(key="b").update(branch_id=-1) == 1  # lamindb's raw way to trash
    assert ln.Transform.filter().list() == [kept]
    with pytest.raises(ln.errors.InvalidArgument, match="Transform has no field 'nope'"):
        ln.Transform.filter(key="a").update(nope=1)
