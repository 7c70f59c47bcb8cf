"""The param index (schema 0004): `Run.filter(params__...)` read through the flattened side table
gives exactly the rows the JSON scan gives, whatever wrote the runs, on both stores; a 0003 store
gets its rows filled in by the migration."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

import flowprov as ln
from flowprov.core.query import lookups
from flowprov.core.store import connection
from flowprov.core.store.schema import SCHEMA_HEAD, VERSION_TABLE, _alembic_config

PARAMS = [
    {"lr": 0.1, "lr_max": 2, "name": "a", "flag": True, "day": "2026-01-02"},
    {"lr": 0.01, "lr_max": 2.0, "name": "b", "flag": False, "model": {"depth": 3, "layers": [8, 16]}},
    {"lr": "0.1", "lr_max": None, "name": 1, "flag": 1, "model": {"depth": 3.5, "layers": [16]}},
    {"lr": 1, "name": "a" * 300, "a.b": 7, "model": {"depth": "3"}, "x y": "z", "_p": -1},
    {"lr": 2**60 + 1, "lr_max": -2, "name": "c", "flag": True},
    {},
]
FILTERS = [
    {"params__lr": 0.1},
    {"params__lr": 1},
    {"params__lr": 1.0},
    {"params__lr": "0.1"},
    {"params__lr": 2**60 + 1},
    {"params__lr__gt": 0.05},
    {"params__lr__lte": 1},
    {"params__lr__range": (0.01, 1)},
    {"params__lr__in": [0.01, 1, 5]},
    {"params__lr_max": 2},
    {"params__lr_max__lt": 0},
    {"params__lr_max": None},
    {"params__lr_max__isnull": True},
    {"params__name": "a"},
    {"params__name": "a" * 300},
    {"params__name__in": ["b", "c"]},
    {"params__name__startswith": "a"},
    {"params__name": 1},
    {"params__flag": True},
    {"params__flag": False},
    {"params__flag__in": [True]},
    {"params__flag": 1},
    {"params__day": dt.date(2026, 1, 2)},
    {"params__model__depth": 3},
    {"params__model__depth__gte": 3},
    {"params__model__depth": "3"},
    {"params__model__layers__0": 16},
    {"params__model__layers__1__gt": 10},
    {"params__a.b": 7},
    {"params__x y": "z"},
    {"params___p": -1},
    {"lr": 0.1},  # lamindb's params by their bare name
]


def _ids(query) -> list[int]:
    return sorted(r.id for r in query)


def _both_ways(monkeypatch, build) -> tuple[list[int], list[int]]:
    with_index = _ids(build())
    monkeypatch.setattr(lookups, "USE_JSON_INDEX", False)
    without = _ids(build())
    monkeypatch.setattr(lookups, "USE_JSON_INDEX", True)
    return with_index, without


def _side_rows(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM flowprov_run_param")).scalar_one()


def test_filters_through_the_index_equal_the_json_scan(store, monkeypatch):
    transform = ln.Transform(key="params.py").save()
    one = [ln.Run(transform, params=p).save() for p in PARAMS[:3]]  # one-row saves
    bulk = ln.save([ln.Run(transform, params=p) for p in PARAMS[3:]])  # the bulk writer
    assert ln.Run.filter(params__lr=0.1).exclude(params__flag=True).count() == 0
    for kwargs in FILTERS:
        with_index, without = _both_ways(monkeypatch, lambda kw=kwargs: ln.Run.filter(**kw))
        assert with_index == without, kwargs
        excluded = _both_ways(monkeypatch, lambda kw=kwargs: ln.Run.exclude(**kw))
        assert excluded[0] == excluded[1], kwargs
    assert _both_ways(monkeypatch, lambda: ln.Run.filter(params__lr=0.1))[0] == [one[0].id]
    assert _both_ways(monkeypatch, lambda: ln.Run.filter(params__model__layers__0=16))[0] == [one[2].id]
    # updates (ORM path) and deletes keep the side table in step
    one[0].params.add_values({"lr": 0.5, "lr_max": 3})
    bulk[1].params.set_values({"name": "d"})
    assert _both_ways(monkeypatch, lambda: ln.Run.filter(params__lr=0.5)) == ([one[0].id], [one[0].id])
    assert _both_ways(monkeypatch, lambda: ln.Run.filter(params__name="c")) == ([], [])
    assert _ids(ln.Run.filter(params__name="d")) == [bulk[1].id]
    before = _side_rows(store)
    one[1].delete(permanent=True)
    assert _side_rows(store) == before - 7  # its seven leaves (lr, lr_max, name, flag, depth, 2 layers)
    for kwargs in FILTERS:
        with_index, without = _both_ways(monkeypatch, lambda kw=kwargs: ln.Run.filter(**kw))
        assert with_index == without, kwargs


def test_the_index_is_what_a_param_filter_reads(store):
    transform = ln.Transform(key="params.py").save()
    ln.save([ln.Run(transform, params={"lr": i / 10}) for i in range(20)])
    queryset = ln.Run.filter(params__lr__gte=1.5)
    with store.engine.connect() as conn:
        sql = str(queryset.statement().compile(conn))
    assert "flowprov_run_param" in sql and "json" not in sql.lower()
    assert sorted(r.params["lr"] for r in queryset) == [1.5, 1.6, 1.7, 1.8, 1.9]
    # the recorder's writes (plain SQL, bulk) are covered by the triggers like any other INSERT
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE flowprov_run SET params = NULL WHERE id = (SELECT MIN(id) FROM flowprov_run)"))
    assert ln.Run.filter(params__lr=0.0).count() == 0


def test_a_0003_store_migrates_and_its_params_are_indexed(store_url, monkeypatch):
    import json

    from alembic import command

    store = connection.Store(store_url, check_schema=False)
    now = dt.datetime(2026, 11, 1, 12, 0)
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0003_soft_delete")
        conn.execute(
            text(
                "INSERT INTO flowprov_transform (id, uid, key, name, type, is_latest, created_at, space_id)"
                " VALUES (1, 'Script00000A0000', 'a.py', 'a.py', 'script', true, :at, 1)"
            ),
            {"at": now},
        )
        cast = "CAST(:params AS jsonb)" if store.dialect == "postgresql" else ":params"
        for i, params in enumerate(PARAMS, start=1):
            conn.execute(
                text(
                    "INSERT INTO flowprov_run (id, uid, started_at, created_at, _status_code, transform_id, space_id,"
                    f" params) VALUES (:id, :uid, :at, :at, 0, 1, 1, {cast})"
                ),
                {"id": i, "uid": f"OldRun{i:010d}", "at": now, "params": json.dumps(params) if params else None},
            )
    store.dispose()
    with pytest.raises(ln.StoreNeedsMigration, match="flowprov migrate"):
        ln.connect(store_url)
    from typer.testing import CliRunner

    from flowprov.cli import app

    result = CliRunner().invoke(app, ["migrate", "--db", store_url])
    assert result.exit_code == 0, result.output
    store = ln.connect(store_url)
    with store.engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == SCHEMA_HEAD
    assert _side_rows(store) > 20
    for kwargs in FILTERS:
        with_index, without = _both_ways(monkeypatch, lambda kw=kwargs: ln.Run.filter(**kw))
        assert with_index == without, kwargs
    assert _ids(ln.Run.filter(params__model__depth=3)) == [2]
