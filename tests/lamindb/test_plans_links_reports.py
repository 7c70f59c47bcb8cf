"""lamindb 2.x's `version` / `version_tag` of transforms (tests/pydata/test_is_versioned.py), the
transform link records (test_transform.py::test_successor_predecessor), `track(plan=)`
(test_track_script_or_notebook.py) and the report of a failing `@ln.flow()` (test_track_flow.py);
schema 0005 upgrading a 0004 store."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app
from flowprov.core.store import connection
from flowprov.core.store.schema import SCHEMA_HEAD, VERSION_TABLE, _alembic_config
from tests.core.test_store import schema_diff


def test_version_is_the_tag_or_the_uid_suffix(store):
    tagged = ln.Transform(key="pipe", version="1.0", source_code="1", kind="pipeline").save()
    assert tagged.version_tag == tagged.version == "1.0"
    untagged = ln.Transform(key="pipe", source_code="2", kind="pipeline").save()
    assert untagged.version_tag is None and untagged.version == untagged.uid[-4:] == "0001"
    assert untagged.is_latest and not ln.Transform.get(key="pipe", version="1.0").is_latest
    # filters by either name compare the stored tag; the suffix is no tag
    assert ln.Transform.filter(version_tag="1.0").one() == tagged
    assert ln.Transform.filter(key="pipe", version="0001").count() == 0
    assert ln.Transform.filter(key="pipe", version=None).one() == untagged
    untagged.version = "2.0"  # setting `version` sets the tag
    untagged.save()
    assert ln.Transform.get(key="pipe", version_tag="2.0") == untagged
    with pytest.raises(ValueError, match="'1.0' is already taken"):
        ln.Transform(key="pipe", version="1.0", source_code="3", kind="pipeline").save()
    assert ln.Transform(key="loose").version is None  # unsaved, no uid yet: nothing to fall back on


def test_successor_links_carry_a_config(store):
    first, second, third = (ln.Transform(key=k).save() for k in ("first", "second", "third"))
    first.successors.add(second, third, through_defaults={"config": {"param": 42}})
    assert set(first.successors.all()) == {second, third}
    links = first.links_successor.all().list()
    assert len(links) == 2 and {link.config["param"] for link in links} == {42}
    assert {link.successor for link in links} == {second, third} and links[0].predecessor == first
    assert first.links_predecessor.count() == 0 and second.links_predecessor.all().one().predecessor == first
    first.successors.add(second, through_defaults={"config": {"param": 1}})  # a present link is left alone
    assert ln.models.transform.TransformTransform.get(predecessor=first, successor=second).config == {"param": 42}
    with pytest.raises(ln.errors.InvalidArgument, match="unknown weight; allowed: config"):
        first.successors.add(third, through_defaults={"weight": 1})
    assert ln.models.TransformTransform.filter(predecessor=first).delete(permanent=True) == 2
    assert first.successors.count() == 0
    link = ln.models.TransformTransform(predecessor=first, successor=second, config={"param": 7}).save()
    assert link in first.links_successor.all() and link in second.links_predecessor.all()
    assert first.successors.all().one() == second
    first.delete(permanent=True)  # its links go with it
    assert ln.models.TransformTransform.filter().count() == 0


@pytest.mark.parametrize("as_key", [False, True], ids=["artifact", "key"])
def test_track_links_the_plan(store, tmp_path, as_key):
    (tmp_path / "plan.md").write_text("# plan\n- step 1\n")
    plan = ln.Artifact(tmp_path / "plan.md", key=".plans/plan.md", kind="plan").save()
    transform = ln.Transform(key="agent-task").save()
    run = ln.track(transform=transform, plan=plan.key if as_key else plan)
    assert run is not None and run.plan == plan and ln.context.run == run
    assert ln.Run.get(uid=run.uid).plan.uid == plan.uid
    assert ln.Run.filter(plan=plan).one() == run
    ln.finish()
    with pytest.raises(ln.errors.InvalidArgument, match="no artifact with that key"):
        ln.track(transform=transform, plan="missing.md")
    plan.delete(permanent=True)
    assert ln.Run.get(uid=run.uid).plan is None  # deleting the plan leaves the run


def test_a_failing_flow_keeps_its_output_as_the_report(store, capsys):
    @ln.flow(global_run="clear")
    def failing(n: int) -> None:
        print(f"working on {n}")
        raise ValueError("flow failed")

    @ln.flow(global_run="clear")
    def fine() -> str:
        print("all good")
        return ln.context.run.uid

    with pytest.raises(ValueError, match="flow failed"):
        failing(3)
    assert "working on 3" in capsys.readouterr().out  # still printed
    run = ln.Run.get(transform__key__endswith=".failing")
    assert run.status == "errored" and run.report is not None
    assert "working on 3" in run.report.cache().read_text()
    assert run.report.run is None and run.report not in run.output_artifacts.all()
    ok = ln.Run.get(uid=fine())
    assert ok.status == "completed" and ok.report is None  # only a failure keeps the streams


def _store_at_0004(store_url: str) -> None:
    from alembic import command

    store = connection.Store(store_url, check_schema=False)
    now = dt.datetime(2026, 11, 1, 12, 0)
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0004_param_index")
        for i, uid in ((1, "Step000000A00000"), (2, "Step000000B00000")):
            conn.execute(
                text(
                    "INSERT INTO flowprov_transform (id, uid, key, name, type, is_latest, created_at, space_id)"
                    " VALUES (:id, :uid, :key, :key, 'step', true, :at, 1)"
                ),
                {"id": i, "uid": uid, "key": f"step{i}", "at": now},
            )
        conn.execute(text("INSERT INTO flowprov_transform_predecessor (transform_id, predecessor_id) VALUES (2, 1)"))
        conn.execute(
            text(
                "INSERT INTO flowprov_run (id, uid, started_at, created_at, _status_code, transform_id, space_id)"
                " VALUES (1, 'OldRun0000000001', :at, :at, 0, 1, 1)"
            ),
            {"at": now},
        )
        if store.dialect == "postgresql":  # explicit ids: move the sequences past them
            for name in ("flowprov_transform", "flowprov_run"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    store.dispose()


def test_a_0004_store_migrates_to_plans_and_link_records(store_url, tmp_path):
    _store_at_0004(store_url)
    with pytest.raises(ln.StoreNeedsMigration, match="flowprov migrate"):
        ln.connect(store_url)
    result = CliRunner().invoke(app, ["migrate", "--db", store_url])
    assert result.exit_code == 0, result.output
    store = ln.connect(store_url)
    with store.engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == SCHEMA_HEAD
        assert schema_diff(conn) == []  # the upgraded schema is the models'
    first, second = ln.Transform.get("Step000000A00000"), ln.Transform.get("Step000000B00000")
    link = first.links_successor.all().one()  # the stored link is kept, now a record
    assert link.id is not None and link.successor == second and link.config is None
    third = ln.Transform(key="step3").save()
    first.successors.add(third, through_defaults={"config": {"k": 1}})
    assert first.successors.count() == 2 and third.links_predecessor.all().one().config == {"k": 1}
    run = ln.Run.get("OldRun0000000001")
    assert run.plan is None
    (tmp_path / "plan.md").write_text("# plan\n")
    run.plan = ln.Artifact(tmp_path / "plan.md").save()
    run.params = {"depth": 3}  # the param index's triggers survived the upgrade
    run.save()
    assert ln.Run.filter(params__depth=3).one() == run and ln.Run.get(run.uid).plan is not None
