"""A store made by flowprov 0.1.0 (schema 0001, with records as 0.1.0 wrote them) upgrades with
`flowprov migrate` and keeps its data; the output links are filled in from what it had."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app
from flowprov.core.store import connection
from flowprov.core.store.schema import SCHEMA_HEAD, VERSION_TABLE, _alembic_config
from flowprov.lineage import upstream

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def _store_at_0001(url: str, files: dict[str, str]) -> None:
    """Schema 0001 and the rows 0.1.0's Recorder wrote for a two-job workflow whose jobs wrote
    the same bytes (the second job only noted them in aux)."""
    from alembic import command

    store = connection.Store(url, check_schema=False)
    naive = store.dialect == "sqlite"
    at = [
        (T0 + dt.timedelta(minutes=i)).replace(tzinfo=None) if naive else T0 + dt.timedelta(minutes=i) for i in range(4)
    ]
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001_initial")
        run = (
            "INSERT INTO flowprov_run (id, uid, name, started_at, finished_at, reference, reference_type, created_at,"
            " aux, params, _status_code, transform_id, initiated_by_run_id, space_id)"
            " VALUES (:id, :uid, :name, :s, :f, :ref, :rt, :s, :aux, :params, 0, :t, :parent, 1)"
        )
        artifact = (
            "INSERT INTO flowprov_artifact (id, uid, suffix, size, hash, _hash_type, n_files, path, is_latest,"
            " run_id, created_at, space_id) VALUES (:id, :uid, '.txt', 0, :hash, 'md5', NULL, :path, true, :run, :at, 1)"
        )
        conn.execute(
            text(
                "INSERT INTO flowprov_transform (id, uid, key, name, type, is_latest, created_at, space_id) VALUES"
                " (1, 'Snakefile000A000', 'Snakefile', 'Snakefile', 'pipeline', true, :at, 1),"
                " (2, 'SnakefileB000000', 'Snakefile#touch', 'touch', 'step', true, :at, 1)"
            ),
            {"at": at[0]},
        )
        wf = {"id": 1, "uid": "wfrun0000000000A", "name": None, "ref": "wf-1", "rt": "snakemake_workflow_id", "t": 1}
        conn.execute(
            text(run),
            {**wf, "s": at[0], "f": at[3], "aux": '{"jobs": {"recorded": 2}}', "params": None, "parent": None},
        )
        for i, sample in ((2, "A"), (3, "B")):
            aux = '{"outputs_already_registered": ["EmptyFile000000A0000"]}' if sample == "B" else "{}"
            conn.execute(
                text(run),
                {
                    "id": i,
                    "uid": f"jobrun{sample}000000000",
                    "name": f"touch (sample={sample})",
                    "ref": f"wf-1:{i}",
                    "rt": "snakemake_job_id",
                    "t": 2,
                    "s": at[i - 1],
                    "f": at[i],
                    "aux": aux,
                    "params": f'{{"wildcards": {{"sample": "{sample}"}}}}',
                    "parent": 1,
                },
            )
        conn.execute(
            text(artifact),
            {
                "id": 1,
                "uid": "RawInput000000000000",
                "hash": "raw-hash",
                "path": files["raw"],
                "run": None,
                "at": at[0],
            },
        )
        # 0.1.0 kept one artifact for the equal bytes, created by job A, its path moved to B's file
        conn.execute(
            text(artifact),
            {
                "id": 2,
                "uid": "EmptyFile000000A0000",
                "hash": "1B2M2Y8AsgTpgAmY7PhCfg",
                "path": files["B"],
                "run": 2,
                "at": at[1],
            },
        )
        conn.execute(text("INSERT INTO flowprov_run_input_artifact (run_id, artifact_id) VALUES (2, 1), (3, 1)"))
        if store.dialect == "postgresql":
            for name in ("flowprov_transform", "flowprov_run", "flowprov_artifact"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))")
                )
    store.dispose()


def test_a_0001_store_migrates_and_keeps_its_records(store_url, tmp_path):
    files = {k: (tmp_path / f"{k}.txt").as_uri() for k in ("raw", "A", "B")}
    _store_at_0001(store_url, files)
    result = CliRunner().invoke(app, ["migrate", "--db", store_url])
    assert result.exit_code == 0, result.output
    store = ln.connect(store_url)
    with store.engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == SCHEMA_HEAD
    a, b = ln.Run.get(name="touch (sample=A)"), ln.Run.get(name="touch (sample=B)")
    empty, raw = ln.Artifact.get("EmptyFile000000A0000"), ln.Artifact.get("RawInput000000000000")
    # everything 0.1.0 stored is still there, unchanged
    assert ln.Run.filter().count() == 3 and ln.Artifact.filter().count() == 2 and ln.Transform.filter().count() == 2
    assert b.params.get_values() == {"wildcards": {"sample": "B"}} and b.aux["outputs_already_registered"] == [
        empty.uid
    ]
    assert (a.started_at, b.finished_at) == (T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=3))
    assert empty.run == a and empty.uri == files["B"]
    # the creator got its output link, the aux note became a recreating run, inputs kept their location
    assert list(a.output_artifacts) == [empty] and list(b.output_artifacts) == [empty]
    assert list(b.recreated_artifacts) == [empty] and list(empty.recreating_runs) == [b]
    assert list(a.input_artifacts) == [raw] and list(raw.input_of_runs.order_by("id")) == [a, b]
    with store.engine.connect() as conn:
        paths = conn.execute(text("SELECT DISTINCT path FROM flowprov_run_input_artifact")).scalars().all()
    assert paths == [files["raw"]]
    assert {r.name for r in upstream(b).runs} == {"touch (sample=B)"}
    # new recording works on the migrated store
    again = tmp_path / "again.txt"
    again.write_text("")
    b.output_artifacts.add(ln.Artifact(again, run=False).save())
    # lamindb: an empty file given to Artifact() is its own record (empty files are not merged)
    assert b.output_artifacts.count() == 2 and {x.uri for x in b.output_artifacts} == {files["B"], again.as_uri()}
