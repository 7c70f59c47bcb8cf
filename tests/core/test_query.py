"""Queries on both stores: lookups, Q, relations, JSON paths, get, df, lookup, search, using."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import flowprov as ln
from flowprov.core.exceptions import DoesNotExist, FieldError, MultipleResultsFound
from flowprov.core.query.lookup_object import to_attribute_name


@pytest.fixture
def data(store, tmp_path):
    cr = ln.Transform(name="Cell Ranger", key="pipelines/cellranger", version="7.2.0").save()
    nf = ln.Transform(name="nf-core/rnaseq", key="nf-core/rnaseq", version="3.14").save()
    files = {}
    for name in ("raw/s1.fastq.gz", "raw/s2.fastq.gz", "ref/genome.fa", "out/counts.tsv"):
        path = tmp_path / name.replace("/", "_")
        path.write_text(name)
        files[name] = ln.Artifact(path, key=name).save()
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    runs = [
        ln.Run(
            cr,
            reference="ref-a",
            reference_type="nextflow_session_id",
            name="loving_blackwell",
            started_at=base,
            params={
                "learning_rate": 0.1,
                "preprocess_params": {"normalization_type": "cool"},
                "tag": "Alpha",
                "flag": True,
            },
            status="completed",
        ),
        ln.Run(
            cr,
            reference="ref-b",
            reference_type="nextflow_session_id",
            name="ADGB-DT",
            started_at=base + dt.timedelta(days=1),
            params={
                "learning_rate": 0.001,
                "preprocess_params": {"normalization_type": "plain"},
                "tag": "beta",
                "flag": False,
            },
            status="errored",
        ),
        ln.Run(
            nf,
            reference="3f2a",
            reference_type="prefect_flow_run_id",
            name="2nd run",
            started_at=base + dt.timedelta(days=2),
            params={"learning_rate": "high", "tag": "Gamma_%"},
            aux={"realtime_ms": 5},
            status="completed",
        ),
    ]
    for r in runs:
        r.save()
    runs[0].input_artifacts.add(files["raw/s1.fastq.gz"], files["ref/genome.fa"])
    runs[1].input_artifacts.add(files["raw/s2.fastq.gz"])
    files["out/counts.tsv"].run = runs[0]
    files["out/counts.tsv"].save()
    return {"cr": cr, "nf": nf, "runs": runs, "files": files, "base": base}


def names(qs) -> list[str]:
    return sorted(r.name for r in qs)


@pytest.mark.parametrize(
    ("lookup", "value", "expected"),
    [
        ("name", "ADGB-DT", ["ADGB-DT"]),
        ("name__exact", "ADGB-DT", ["ADGB-DT"]),
        ("name__iexact", "adgb-dt", ["ADGB-DT"]),
        ("name__contains", "black", ["loving_blackwell"]),
        ("name__contains", "BLACK", []),
        ("name__icontains", "BLACK", ["loving_blackwell"]),
        ("name__startswith", "lov", ["loving_blackwell"]),
        ("name__startswith", "LOV", []),
        ("name__istartswith", "LOV", ["loving_blackwell"]),
        ("name__endswith", "-DT", ["ADGB-DT"]),
        ("name__iendswith", "-dt", ["ADGB-DT"]),
        ("name__in", ["ADGB-DT", "2nd run"], ["2nd run", "ADGB-DT"]),
        ("reference__gt", "ref-a", ["ADGB-DT"]),
        ("reference__gte", "ref-a", ["ADGB-DT", "loving_blackwell"]),
        ("reference__lt", "ref-a", ["2nd run"]),
        ("reference__lte", "ref-a", ["2nd run", "loving_blackwell"]),
        ("reference__range", ("ref-a", "ref-b"), ["ADGB-DT", "loving_blackwell"]),
        ("aux__isnull", True, ["ADGB-DT", "loving_blackwell"]),
        ("aux__isnull", False, ["2nd run"]),
        ("name__regex", r"^[A-Z]+-", ["ADGB-DT"]),
        ("name__regex", r"^adgb", []),
        ("name__iregex", r"^adgb", ["ADGB-DT"]),
        ("name__contains", "_", ["loving_blackwell"]),
    ],
)
def test_lookups(data, lookup, value, expected):
    assert names(ln.Run.filter(**{lookup: value})) == expected


def test_datetime_lookups(data):
    base = data["base"]
    assert names(ln.Run.filter(started_at__gt=base)) == ["2nd run", "ADGB-DT"]
    assert names(ln.Run.filter(started_at__range=(base, base + dt.timedelta(days=1)))) == [
        "ADGB-DT",
        "loving_blackwell",
    ]
    assert names(ln.Run.filter(started_at__gte="2026-01-02T00:00:00+00:00")) == ["2nd run", "ADGB-DT"]
    assert names(ln.Run.filter(started_at__lt=dt.date(2026, 1, 2))) == ["loving_blackwell"]


def test_json_lookups(data):
    assert names(ln.Run.filter(params__learning_rate__gt=0.01)) == [
        "loving_blackwell"
    ]  # "high" is skipped, not an error
    assert names(ln.Run.filter(params__learning_rate="high")) == ["2nd run"]
    assert names(ln.Run.filter(params__preprocess_params__normalization_type="cool")) == ["loving_blackwell"]
    assert names(ln.Run.filter(params__tag__icontains="alpha")) == ["loving_blackwell"]
    assert names(ln.Run.filter(params__tag__contains="_%")) == ["2nd run"]
    assert names(ln.Run.filter(params__flag=True)) == ["loving_blackwell"]
    assert names(ln.Run.filter(params__flag=False)) == ["ADGB-DT"]
    assert names(ln.Run.filter(params__preprocess_params__isnull=True)) == ["2nd run"]
    assert names(ln.Run.filter(params__learning_rate__in=[0.1, 0.001])) == ["ADGB-DT", "loving_blackwell"]
    assert names(ln.Run.filter(aux__realtime_ms__lte=5)) == ["2nd run"]


def test_relation_lookups(data):
    assert names(ln.Run.filter(transform__name="Cell Ranger")) == ["ADGB-DT", "loving_blackwell"]
    assert names(ln.Run.filter(transform=data["nf"])) == ["2nd run"]
    assert names(ln.Run.filter(transform__in=[data["nf"].id])) == ["2nd run"]
    assert names(ln.Run.filter(input_artifacts__key__startswith="raw/")) == ["ADGB-DT", "loving_blackwell"]
    assert names(ln.Run.filter(input_artifacts__key="ref/genome.fa")) == ["loving_blackwell"]
    assert names(ln.Run.filter(output_artifacts__key="out/counts.tsv")) == ["loving_blackwell"]
    assert names(ln.Run.filter(input_artifacts__isnull=True)) == ["2nd run"]
    assert sorted(t.name for t in ln.Transform.filter(runs__reference_type="prefect_flow_run_id")) == ["nf-core/rnaseq"]
    assert sorted(a.key for a in ln.Artifact.filter(input_of_runs__name="loving_blackwell")) == [
        "raw/s1.fastq.gz",
        "ref/genome.fa",
    ]
    assert sorted(a.key for a in ln.Artifact.filter(run__transform__name="Cell Ranger")) == ["out/counts.tsv"]
    # a filter across a to-many relation never duplicates rows
    assert ln.Run.filter(input_artifacts__key__contains="/").count() == 2


def test_shorthands(data):
    assert names(ln.Run.filter(status="completed")) == ["2nd run", "loving_blackwell"]
    assert names(ln.Run.filter(status__in=["errored"])) == ["ADGB-DT"]
    assert [t.name for t in ln.Transform.filter(version="3.14")] == ["nf-core/rnaseq"]


def test_q_objects(data):
    q = ln.Q(name="ADGB-DT") | ln.Q(reference_type="prefect_flow_run_id")
    assert names(ln.Run.filter(q)) == ["2nd run", "ADGB-DT"]
    assert names(ln.Run.filter(~ln.Q(status="completed"))) == ["ADGB-DT"]
    assert names(ln.Run.filter(ln.Q(transform__name="Cell Ranger") & ~ln.Q(name__startswith="lov"))) == ["ADGB-DT"]
    assert names(ln.Run.filter(ln.Q(params__learning_rate__gt=0.01) | ln.Q(params__tag="beta"))) == [
        "ADGB-DT",
        "loving_blackwell",
    ]
    assert names(ln.Run.exclude(name="ADGB-DT")) == ["2nd run", "loving_blackwell"]


def test_queryset_api(data):
    qs = ln.Run.filter(transform__name="Cell Ranger").order_by("-started_at")
    assert [r.name for r in qs] == ["ADGB-DT", "loving_blackwell"]
    assert qs.first().name == "ADGB-DT" and qs.last().name == "loving_blackwell"
    assert qs.count() == 2 and qs.exists() and not ln.Run.filter(name="nope").exists()
    assert [r.name for r in ln.Run.filter().order_by("started_at")[1:3]] == ["ADGB-DT", "2nd run"]
    assert ln.Run.filter().order_by("started_at")[0].name == "loving_blackwell"
    assert ln.Run.filter(name="ADGB-DT").one().reference == "ref-b"
    assert ln.Run.filter(name="nope").one_or_none() is None
    with pytest.raises(MultipleResultsFound):
        qs.one()
    assert qs.values("name", "reference") == [
        {"name": "ADGB-DT", "reference": "ref-b"},
        {"name": "loving_blackwell", "reference": "ref-a"},
    ]
    assert qs.values_list("name", flat=True) == ["ADGB-DT", "loving_blackwell"]
    assert qs.values_list("name", "status") == [("ADGB-DT", 1), ("loving_blackwell", 0)]
    assert ln.Run.filter(input_artifacts__key__startswith="raw/").distinct().count() == 2
    assert len(qs.all()) == 2 and bool(qs) and len(qs.list()) == 2
    assert ln.Run.filter(name="2nd run").delete() == 1
    assert ln.Run.filter().count() == 2


def test_field_errors_name_the_valid_fields(data):
    with pytest.raises(FieldError, match="available fields: .*reference_type"):
        ln.Run.filter(colour="red")
    with pytest.raises(FieldError, match="unknown lookup|cannot follow"):
        ln.Run.filter(name__fuzzy="x")
    with pytest.raises(FieldError, match="only works on text fields"):
        ln.Run.filter(started_at__contains="2026")
    with pytest.raises(FieldError, match="expected a number"):
        ln.Run.filter(transform_id="abc")
    with pytest.raises(FieldError, match="date/time"):
        ln.Run.filter(started_at__gt="yesterday")
    with pytest.raises(FieldError, match="available fields"):
        ln.Run.filter(transform__colour="x")
    with pytest.raises(FieldError, match="available fields"):
        ln.Run.filter().order_by("colour")


def test_values_are_bound_never_sql(data):
    evil = "x'); DROP TABLE flowprov_run; --"
    assert ln.Run.filter(name=evil).count() == 0
    assert ln.Run.filter(params__tag=evil).count() == 0
    assert ln.Run.filter().count() == 3


def test_get_forms(data):
    run = data["runs"][0]
    assert ln.Run.get(run.id).uid == run.uid
    assert ln.Run.get(run.uid).id == run.id
    assert ln.Run.get(run.uid[:4]).id == run.id  # 3 runs: a 4-char prefix is unique (62**4 possibilities)
    assert ln.Run.get(name="loving_blackwell").id == run.id
    with pytest.raises(DoesNotExist, match="Run matching name='nope'"):
        ln.Run.get(name="nope")
    with pytest.raises(MultipleResultsFound, match="2 Run records match"):
        ln.Run.get(transform__name="Cell Ranger")
    with pytest.raises(TypeError):
        ln.Run.get(3.5)


def test_uid_prefix_ambiguity_lists_candidates(store):
    t = ln.Transform(name="t").save()
    runs = [ln.Run(t) for _ in range(2)]
    runs[0].uid = "AAAA" + runs[0].uid[4:]
    runs[1].uid = "AAAA" + runs[1].uid[4:]
    ln.save(runs)
    with pytest.raises(MultipleResultsFound) as info:
        ln.Run.get("AAAA")
    assert runs[0].uid in str(info.value) and runs[1].uid in str(info.value)
    assert ln.Run.get(runs[0].uid[:8]).id == runs[0].id


def test_df(data):
    frame = ln.Run.df()
    assert list(frame.index) == sorted((r.id for r in data["runs"]), reverse=True)
    assert "updated_at" not in frame.columns and "uid" in frame.columns and "params" not in frame.columns
    assert isinstance(frame["started_at"].dtype, pd.DatetimeTZDtype)
    assert str(frame["_status_code"].dtype) == "Int64" and str(frame["initiated_by_run_id"].dtype) == "Int64"
    assert ln.Run.df(limit=1).shape[0] == 1 and ln.Run.df(limit=None).shape[0] == 3
    inc = (
        ln.Run.filter(transform__name="Cell Ranger")
        .order_by("started_at")
        .df(include=["transform__name", "input_artifacts__key", "created_by__handle"])
    )
    assert list(inc["transform__name"]) == ["Cell Ranger", "Cell Ranger"]
    assert [sorted(v) for v in inc["input_artifacts__key"]] == [
        ["raw/s1.fastq.gz", "ref/genome.fa"],
        ["raw/s2.fastq.gz"],
    ]
    feats = ln.Run.filter(transform__name="Cell Ranger").order_by("started_at").df(features=True)
    assert list(feats["learning_rate"]) == [0.1, 0.001]
    assert list(feats["tag"]) == ["Alpha", "beta"]
    assert ln.Transform.df(include="runs__name").shape[0] == 2
    with pytest.raises(FieldError):
        ln.Run.df(include="transform__colour")
    assert ln.Run.to_dataframe().shape == ln.Run.df().shape


def test_lookup(data):
    lk = ln.Run.lookup()
    assert lk.loving_blackwell.name == "loving_blackwell"
    assert lk.adgb_dt.name == "ADGB-DT"
    assert lk._2nd_run.name == "2nd run"
    assert "adgb_dt" in dir(lk)
    assert lk.dict()["ADGB-DT"].name == "ADGB-DT"
    refs = ln.Run.lookup(field="reference", return_field="name")
    assert refs.ref_a == "loving_blackwell"
    assert to_attribute_name("ADGB-DT") == "adgb_dt"
    assert to_attribute_name("class") == "class_"
    assert to_attribute_name("3 cells") == "_3_cells"
    assert to_attribute_name("!!!") == "_"


def test_lookup_collisions_are_predictable(store):
    t = ln.Transform(name="t").save()
    ln.save([ln.Run(t, name=n) for n in ("a-b", "a b", "A_B")])
    lk = ln.Run.lookup(field="name")
    assert {k: v.name for k, v in ((k, lk[k]) for k in dir(lk))} == {"a_b": "A_B", "a_b_2": "a b", "a_b_3": "a-b"}


def test_search_ranks_and_tolerates_typos(store):
    for name in ("Cell Ranger", "Cell Ranger ARC", "Spaceranger", "STAR aligner", "Salmon"):
        ln.Transform(name=name).save()
    hits = ln.Transform.search("Cell Ranger")
    assert [t.name for t in hits][:2] == ["Cell Ranger", "Cell Ranger ARC"]
    assert "Salmon" not in [t.name for t in hits]
    typo = ln.Transform.search("Cell Rangr")
    assert typo.first().name in ("Cell Ranger", "Cell Ranger ARC")
    assert ln.Transform.search("ranger", field="name").df()["score"].tolist() == sorted(
        ln.Transform.search("ranger", field="name").df()["score"].tolist(), reverse=True
    )
    frame = ln.Transform.search("Cell Ranger").df()
    assert frame["score"].iloc[0] == 100.0 and list(frame["name"])[0] == "Cell Ranger"
    assert ln.Transform.search("cell ranger").df()["score"].iloc[0] == 100.0
    assert ln.Transform.search("cell ranger", case_sensitive=True).df()["score"].max() < 100.0
    assert ln.Transform.search("Salmon", limit=1).count() == 1


def test_using_another_store(store, tmp_path):
    other_url = f"sqlite:///{tmp_path / 'team.db'}"
    from flowprov.core.store import settings

    settings.write_instance("team", other_url)
    ln.connect("team")
    t = ln.Transform(name="team pipeline").save()
    ln.Run(t, reference="team-run", reference_type="test").save()
    ln.connect(store.url)
    assert ln.Run.filter(reference="team-run").count() == 0
    assert ln.Run.using("team").filter(reference="team-run").count() == 1
    assert ln.Run.using(other_url).get(reference="team-run").transform.name == "team pipeline"
    assert ln.Run.using("team").df().shape[0] == 1


def test_related_records_load_in_the_same_query(data):
    """Listing runs with their transforms is one query, not one per run."""
    from sqlalchemy import event

    store = ln.current_store()
    statements = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    store.session.expunge_all()
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        names_and_transforms = [(r.name, r.transform.name) for r in ln.Run.filter().select_related("transform")]
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert len(names_and_transforms) == 3 and len(statements) == 1
    with pytest.raises(FieldError, match="not a many-to-one"):
        ln.Run.filter().select_related("input_artifacts")
