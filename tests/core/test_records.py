"""Records and their API on both stores: fields, constructors, versions, relations, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest

import flowprov as ln
from flowprov.core.exceptions import DoesNotExist, MultipleResultsFound, ValidationError


@pytest.fixture
def transform(store):
    return ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()


@pytest.fixture
def small_file(tmp_path):
    def make(name: str, content: bytes):
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


def test_lamindb_run_page_example_runs_unchanged(store):
    ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()
    transform = ln.Transform.get(name="Cell Ranger", version="7.2.0")
    run = ln.Run(transform)
    run.save()
    assert ln.Run.get(run.uid).transform == transform
    assert run.status == "started" and run._status_code == -1


def test_every_run_field_round_trips(store, transform, small_file):
    env = ln.Artifact(small_file("env.txt", b"numpy==2.0\n")).save()
    report = ln.Artifact(small_file("report.html", b"<html></html>")).save()
    parent = ln.Run(
        transform,
        reference="5477e033-04ee-44f1-81c9-a72a7f1508c2",
        reference_type="nextflow_session_id",
        name="loving_blackwell",
    ).save()
    started = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    run = ln.Run(
        transform,
        reference="ab/cdef12",
        reference_type="nextflow_task_hash",
        name="FASTQC (s1)",
        params={"learning_rate": 0.01, "nested": {"a": [1, 2]}},
        initiated_by_run=parent,
        started_at=started,
        finished_at=started + dt.timedelta(minutes=5),
        aux={"realtime_ms": 1234},
        environment=env,
        report=report,
        status="completed",
    ).save()
    ln.connect(store.url)  # same store object; force a fresh read below
    store.session.expunge_all()
    got = ln.Run.get(run.uid)
    assert len(got.uid) == 16 and re.fullmatch(r"[0-9A-Za-z]{16}", got.uid)
    assert got.name == "FASTQC (s1)"
    assert got.reference == "ab/cdef12" and got.reference_type == "nextflow_task_hash"
    assert got.started_at == started and got.started_at.tzinfo is not None
    assert got.started_at.utcoffset() == dt.timedelta(0)
    assert got.finished_at - got.started_at == dt.timedelta(minutes=5)
    assert got.created_at.tzinfo is not None
    assert got.aux == {"realtime_ms": 1234}
    assert got.params.get_values() == {"learning_rate": 0.01, "nested": {"a": [1, 2]}}
    assert got.transform.name == "Cell Ranger"
    assert got.environment.hash == env.hash and got.report.suffix == ".html"
    assert got.initiated_by_run.uid == parent.uid
    assert [r.uid for r in parent.initiated_runs.all()] == [run.uid]
    assert got.status == "completed" and got._status_code == 0
    assert got.space.name == "all" and got.created_by.handle


def test_started_at_defaults_to_now_utc(store, transform):
    before = dt.datetime.now(dt.UTC)
    run = ln.Run(transform)
    assert run.started_at.tzinfo is not None and before <= run.started_at <= dt.datetime.now(dt.UTC)


def test_status_names_and_codes(store, transform):
    codes = {"scheduled": -3, "restarted": -2, "started": -1, "completed": 0, "errored": 1, "aborted": 2}
    for name, code in codes.items():
        run = ln.Run(transform, status=name).save()
        assert run._status_code == code and run.status == name
    run.status = 0
    assert run.status == "completed"
    with pytest.raises(ValidationError, match="unknown status"):
        run.status = "exploded"


def test_unknown_keyword_raises_type_error_naming_it(store, transform):
    with pytest.raises(TypeError, match="colour"):
        ln.Run(transform, colour="red")
    with pytest.raises(TypeError, match="flavour"):
        ln.Transform(name="x", flavour="y")


def test_run_needs_a_transform(store):
    with pytest.raises(TypeError, match="needs a transform"):
        ln.Run()
    with pytest.raises(TypeError, match="expected a Transform"):
        ln.Run("not a transform")


def test_repr_is_one_line_with_non_empty_fields(store, transform):
    run = ln.Run(transform, reference="r1", reference_type="test").save()
    text = repr(run)
    assert "\n" not in text
    assert text.startswith("Run(uid=") and "reference='r1'" in text and "name=" not in text


# -- transform versions -----------------------------------------------------------------------


def test_same_key_same_source_is_the_same_record(store):
    a = ln.Transform(key="pipelines/rnaseq.nf", source_code="process A {}", type="pipeline").save()
    b = ln.Transform(key="pipelines/rnaseq.nf", source_code="process A {}", type="pipeline").save()
    assert b is a or b.id == a.id
    assert ln.Transform.filter(key="pipelines/rnaseq.nf").count() == 1


def test_changed_source_becomes_a_new_version(store):
    v1 = ln.Transform(key="scripts/train.py", source_code="print(1)", type="script").save()
    v2 = ln.Transform(key="scripts/train.py", source_code="print(2)", type="script").save()
    assert v1.id != v2.id
    assert v1.uid[:12] == v2.uid[:12] and v1.uid[12:] == "0000" and v2.uid[12:] == "0001"
    v1.refresh_from_db()
    assert (v1.is_latest, v2.is_latest) == (False, True)
    assert ln.Transform.get(v1.uid[:12]).id == v2.id  # a family stem gives the latest version
    assert ln.Transform.get(key="scripts/train.py").id == v2.id
    # going back to the first source returns the first record, not a third version
    again = ln.Transform(key="scripts/train.py", source_code="print(1)", type="script").save()
    assert again.id == v1.id


def test_explicit_version_is_never_answered_with_another_version(store):
    v1 = ln.Transform(key="k", version="1.0").save()
    v11 = ln.Transform(key="k", version="1.1").save()
    assert v11.id != v1.id and v11.version == "1.1"
    assert ln.Transform.get(key="k", version="1.0").id == v1.id


def test_same_version_with_different_source_is_refused(store):
    ln.Transform(key="k2", version="1.0", source_code="a").save()
    with pytest.raises(ValueError, match="already taken"):
        ln.Transform(key="k2", version="1.0", source_code="b").save()


def test_transform_type_is_checked(store):
    with pytest.raises(ValidationError, match="type"):
        ln.Transform(name="x", type="banana").save()


# -- relations --------------------------------------------------------------------------------


def test_relation_managers(store, transform, small_file):
    run = ln.Run(transform).save()
    a = ln.Artifact(small_file("a.txt", b"a"), key="raw/a.txt").save()
    b = ln.Artifact(small_file("b.txt", b"b"), key="raw/b.txt").save()
    c = ln.Artifact(small_file("c.txt", b"c"), key="out/c.txt", run=run).save()
    run.input_artifacts.add(a, b)
    run.input_artifacts.add(a)  # already there: no duplicate
    assert sorted(x.key for x in run.input_artifacts.all()) == ["raw/a.txt", "raw/b.txt"]
    assert run.input_artifacts.count() == 2
    assert [r.id for r in a.input_of_runs.all()] == [run.id]
    run.input_artifacts.remove(b)
    assert [x.key for x in run.input_artifacts] == ["raw/a.txt"]
    run.input_artifacts.set([b])
    assert [x.key for x in run.input_artifacts.list()] == ["raw/b.txt"]
    assert [x.key for x in run.output_artifacts.all()] == ["out/c.txt"]
    assert c.run.id == run.id
    col = ln.Collection([a, b], key="raw-set", run=run).save()
    run2 = ln.Run(transform).save()
    run2.input_collections.add(col)
    assert [x.key for x in col.artifacts.all()] == ["raw/a.txt", "raw/b.txt"]
    assert [r.id for r in col.input_of_runs.all()] == [run2.id]
    assert [x.key for x in run.output_collections.all()] == ["raw-set"]
    assert run2.input_collections.filter(key="raw-set").count() == 1
    with pytest.raises(AttributeError, match="set"):
        run.input_artifacts = [a]


def test_relation_to_unsaved_record_is_refused(store, transform, small_file):
    run = ln.Run(transform).save()
    unsaved = ln.Artifact(small_file("u.txt", b"u"))
    with pytest.raises(ValidationError, match="not saved"):
        run.input_artifacts.add(unsaved)
    unsaved_transform = ln.Transform(name="never saved")
    with pytest.raises(ValidationError, match="not saved"):
        ln.Run(unsaved_transform).save()
    assert ln.Run.filter().count() == 1


def test_relation_to_a_record_of_another_store_is_refused(store, transform, tmp_path):
    other = ln.connect(tmp_path / "other.db")
    foreign_transform = ln.Transform(name="elsewhere").save()
    ln.connect(store.url)
    with pytest.raises(ValidationError, match="belongs to store"):
        ln.Run(foreign_transform).save()
    assert other is not store


def test_save_many_is_one_transaction(store, transform):
    runs = [ln.Run(transform, reference=f"r{i}", reference_type="bulk") for i in range(50)]
    saved = ln.save(runs)
    assert len(saved) == 50 and all(r.id is not None for r in saved)
    bad = [ln.Run(transform, reference=f"s{i}", reference_type="bulk") for i in range(10)]
    bad[7].reference_type = "x" * 26
    with pytest.raises(ValidationError, match="reference_type"):
        ln.save(bad)
    assert ln.Run.filter(reference__startswith="s").count() == 0


def test_save_many_relates_new_records_to_each_other(store):
    # a new (versioned) transform and its runs in one call, as save()'s docstring promises
    t = ln.Transform(key="pipelines/new.py", type="script")
    runs = [ln.Run(t, name=f"n{i}") for i in range(3)]
    saved = ln.save([t, *runs])
    assert saved[0].id is not None
    assert [r.transform_id for r in saved[1:]] == [saved[0].id] * 3
    assert ln.Run.filter(transform__key="pipelines/new.py").count() == 3


def test_save_many_rolls_back_on_a_store_error(store, transform):
    runs = [ln.Run(transform, reference=f"t{i}", reference_type="bulk") for i in range(5)]
    runs[3].uid = runs[1].uid  # unique violation only the store can see
    with pytest.raises(ValidationError, match="refused"):
        ln.save(runs)
    assert ln.Run.filter(reference__startswith="t").count() == 0


def test_delete(store, transform, tmp_path):
    run = ln.Run(transform).save()
    uid = run.uid
    run.delete(permanent=True)
    with pytest.raises(DoesNotExist):
        ln.Run.get(uid)
    run2 = ln.Run(transform).save()
    (tmp_path / "made.txt").write_text("made by run2")
    made = ln.Artifact(tmp_path / "made.txt", run=run2).save()
    with pytest.raises(ValidationError, match="refers to it"):  # run2 created an artifact
        transform.delete(permanent=True)
    assert ln.Run.filter(uid=run2.uid).count() == 1  # nothing was deleted
    made.delete(permanent=True)
    transform.delete(permanent=True)  # lamindb: the transform's runs go with it
    assert ln.Transform.filter(name="Cell Ranger", branch_id=None).count() == 0
    assert ln.Run.filter(uid=run2.uid, branch_id=None).count() == 0


# -- Django-model methods -----------------------------------------------------------------------


def test_clean_fields_collects_every_error(store, transform):
    run = ln.Run(transform, reference_type="x" * 26, aux=["not", "a", "dict"])
    run.name = 5
    with pytest.raises(ValidationError) as info:
        run.clean_fields()
    assert set(info.value.error_dict) == {"reference_type", "aux", "name"}
    assert "at most 25 characters" in info.value.error_dict["reference_type"][0]
    run.clean_fields(exclude=["reference_type", "aux", "name"])
    with pytest.raises(ValidationError):
        run.save()  # save() runs clean_fields() first
    assert ln.Run.filter().count() == 0


def test_validate_unique_and_unique_error_message(store, transform):
    run = ln.Run(transform).save()
    twin = ln.Run(transform)
    twin.uid = run.uid
    with pytest.raises(ValidationError) as info:
        twin.validate_unique()
    assert "already exists" in info.value.error_dict["uid"][0]
    run.validate_unique()  # itself is not a clash
    assert str(run.unique_error_message(ln.Run, ("uid",))) == "Run with this Uid already exists."


def test_validate_constraints_and_get_constraints(store, transform):
    run = ln.Run(transform)
    run._status_code = 7
    with pytest.raises(ValidationError, match="status_code_known"):
        run.validate_constraints()
    run.validate_constraints(exclude=["_status_code"])
    [(cls, constraints)] = ln.Run.get_constraints()
    assert cls is ln.Run
    names = {c.name for c in constraints}
    assert "ck_flowprov_run_status_code_known" in names and "uq_flowprov_run_uid" in names
    run.full_clean(validate_constraints=False)


def test_get_deferred_fields_and_refresh_from_db(store, transform):
    run = ln.Run(transform, name="before").save()
    assert run.get_deferred_fields() == set()
    store.session.expire(run, ["name"])
    assert run.get_deferred_fields() == {"name"}
    assert run.name == "before"
    from sqlalchemy import update

    with store.transaction() as session:
        session.execute(
            update(ln.Run).where(ln.Run.id == run.id).values(name="after"),
            execution_options={"synchronize_session": False},
        )
    run.refresh_from_db(fields=["name"])
    assert run.name == "after"
    run.refresh_from_db(from_queryset=ln.Run.filter(name="after"))
    assert run.name == "after"


def test_serializable_value_and_prepare_database_save(store, transform):
    run = ln.Run(transform, name="n").save()
    assert run.serializable_value("transform") == transform.id
    assert run.serializable_value("name") == "n"
    assert run.prepare_database_save(None) == run.id
    with pytest.raises(ValueError, match="not saved"):
        ln.Run(transform).prepare_database_save(None)


def test_date_error_message_and_save_base(store, transform):
    err = transform.date_error_message("year", "name", "created_at")
    assert err.error_dict == {"name": ["name must be unique for created_at year."]}
    run = ln.Run(transform)
    run.save_base()
    assert run.id is not None


def test_async_methods(store, transform):
    async def scenario():
        run = await ln.Run(transform, name="async").asave()
        await run.arefresh_from_db()
        uid = run.uid
        await run.adelete(permanent=True)
        return uid

    uid = asyncio.run(scenario())
    with pytest.raises(DoesNotExist):
        ln.Run.get(uid)


def test_get_forms_and_errors(store, transform):
    run = ln.Run(transform).save()
    assert ln.Run.get(run.id).uid == run.uid
    assert ln.Run.get(run.uid[:6]).id == run.id
    with pytest.raises(DoesNotExist, match="Run matching 'zzzzzzzzzzzzzzzz' does not exist"):
        ln.Run.get("zzzzzzzzzzzzzzzz")
    many = [ln.Run(transform).save() for _ in range(3)]
    with pytest.raises(MultipleResultsFound) as info:
        ln.Run.get(transform=transform)
    assert all(r.uid in str(info.value) for r in [run, *many])


def test_exceptions_name_what_is_wrong(store, tmp_path):
    from flowprov.core import exceptions

    for name in ("DoesNotExist", "MultipleResultsFound", "ValidationError", "StoreNeedsMigration", "FieldError"):
        assert issubclass(getattr(exceptions, name), exceptions.FlowprovError)
    transform = ln.Transform(name="msgs", type="script").save()
    ln.save([ln.Run(transform, name="twin"), ln.Run(transform, name="twin")])
    with pytest.raises(exceptions.DoesNotExist, match="Run.*'nope'"):
        ln.Run.get(name="nope")
    with pytest.raises(exceptions.MultipleResultsFound, match="2 Run records match .*give a longer uid or more fields"):
        ln.Run.get(name="twin")
    with pytest.raises(exceptions.FieldError, match="nmae"):
        ln.Run.filter(nmae="twin").count()
    with pytest.raises(exceptions.ValidationError, match="reference_type"):
        ln.Run(transform, reference_type="x" * 26).save()
    (tmp_path / "empty.db").touch()
    with pytest.raises(exceptions.StoreNeedsMigration, match="run `flowprov init --db "):
        ln.connect(tmp_path / "empty.db", create=False)


def test_params_normalisation_and_secrets(store, transform, tmp_path):
    from pathlib import Path

    from pydantic import BaseModel, SecretStr

    class Settings(BaseModel):
        threads: int = 4
        registry_token: str = "tok"

    run = ln.Run(transform).save()
    run.params.add_values(
        {
            "learning_rate": 0.01,
            "preprocess_params": {"normalization_type": "cool", "subset_highlyvariable": True},
            "when": dt.date(2026, 11, 27),
            "path": Path("/data/x.csv"),
            "aws_secret": "AKIA...",
            "model": Settings(),
            "pw": SecretStr("hunter2"),
            "layers": (64, 32),
        }
    )
    stored = ln.Run.get(run.uid).params.get_values()
    assert stored == {
        "learning_rate": 0.01,
        "preprocess_params": {"normalization_type": "cool", "subset_highlyvariable": True},
        "when": "2026-11-27",
        "path": "/data/x.csv",
        "aws_secret": "***",
        "model": {"threads": 4, "registry_token": "***"},
        "pw": "***",
        "layers": [64, 32],
    }
    assert ln.Run.filter(params__preprocess_params__subset_highlyvariable=True).count() == 1
    with pytest.raises(ValidationError, match="weird: cannot store a object"):
        run.params.add_values({"weird": object()})
    with pytest.raises(ValidationError, match="NaN"):
        run.params.add_values({"x": float("nan")})
    assert "weird" not in ln.Run.get(run.uid).params
