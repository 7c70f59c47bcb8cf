"""The one-row save path (core/registry/rows.py) and DataFrames read in chunks, on both stores.

New records are inserted on the driver, not through the ORM session's unit of work; these tests
pin down what that path must keep: ids from the database, errors as ValidationError, the record
attached to its store's session, relations that need a query taking the ORM path, a forked child
never touching the parent's connection, and DataFrames identical across chunk boundaries.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import sys

import pytest
from sqlalchemy import event
from sqlalchemy.orm import object_session

import flowprov as ln
from flowprov.core.exceptions import ValidationError


@pytest.fixture
def transform(store):
    return ln.Transform(key="pipelines/save-path", type="pipeline").save()


def _sqlalchemy_statements(store) -> list[str]:
    """Statements SQLAlchemy executes from now on (the driver path sends none through it)."""
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_new_run_is_one_insert_on_the_driver_with_the_id_from_the_database(store, transform):
    ln.Run(transform).save()  # the user's id is known from here on
    statements = _sqlalchemy_statements(store)
    runs = [ln.Run(transform, reference=f"r{i}", params={"i": i, "when": dt.date(2026, 1, i + 1)}) for i in range(3)]
    for run in runs:
        assert run.save() is run
    assert statements == []  # not one statement through SQLAlchemy's execution
    assert [r.id for r in runs] == sorted(r.id for r in runs) and all(r.id is not None for r in runs)
    for run in runs:
        assert object_session(run) is store.session  # attached: relations load on access
        assert run.transform == transform and run.created_by.handle
    stored = ln.Run.get(reference="r2")
    assert stored.id == runs[2].id and stored.params.get_values() == {"i": 2, "when": "2026-01-03"}
    assert stored.started_at.tzinfo is not None and stored.status == "started"


def test_a_refused_insert_is_a_validation_error_and_leaves_the_record_unsaved(store, transform):
    first = ln.Run(transform).save()
    clash = ln.Run(transform, uid=first.uid)
    with pytest.raises(ValidationError, match="Run: the store refused the write"):
        clash.save_base()  # past clean(): the database's unique constraint refuses it
    assert clash.id is None and ln.Run.filter(uid=first.uid).count() == 1
    ln.Run(transform, reference="after").save()  # the connection is usable afterwards
    assert ln.Run.filter(reference="after").count() == 1


def test_relations_that_need_a_query_take_the_orm_path(store, transform):
    other_copy = ln.Transform.get(transform.id)  # the same record, loaded again
    store.session.expunge(other_copy)  # detached: saving a run with it needs a merge (a query)
    run = ln.Run(other_copy, reference="detached").save()
    assert run.id is not None and ln.Run.get(reference="detached").transform_id == transform.id
    with pytest.raises(ValidationError, match="is not saved"):
        ln.Run(ln.Transform(key="never/saved", type="pipeline")).save()


def test_saves_inside_a_transaction_are_all_or_nothing(store, transform):
    with pytest.raises(RuntimeError), store.transaction():
        ln.Run(transform, reference="rolled-back").save()
        raise RuntimeError("abort")
    assert ln.Run.filter(reference="rolled-back").count() == 0
    with store.transaction():
        kept = [ln.Run(transform, reference=f"kept{i}").save() for i in range(2)]
    assert ln.Run.filter(reference__startswith="kept").count() == 2 and all(r.id for r in kept)


def _child_saves(url: str, transform_id: int, queue) -> None:
    try:
        store = ln.connect(url)
        transform = ln.Transform.get(transform_id)
        queue.put(ln.Run(transform, reference="child").save().id)
        store.dispose()
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_saves_on_its_own_connection(store, transform, store_url):
    ln.Run(transform, reference="parent-before").save()  # the parent's session holds a connection
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_saves, args=(store_url, transform.id, queue))
    child.start()
    child_run_id = queue.get(timeout=120)
    child.join(timeout=120)
    assert isinstance(child_run_id, int), child_run_id
    ln.Run(transform, reference="parent-after").save()
    assert {r.reference for r in ln.Run.filter(reference__in=["parent-before", "child", "parent-after"])} == {
        "parent-before",
        "child",
        "parent-after",
    }


def test_bulk_save_inserts_rows_with_allocated_ids(store, transform):
    runs = ln.save([ln.Run(transform, reference=f"bulk{i}", params={"i": i}) for i in range(5)])
    ids = [r.id for r in runs]
    assert ids == list(range(ids[0], ids[0] + 5))
    assert [r.params["i"] for r in ln.Run.filter(reference__startswith="bulk").order_by("id")] == list(range(5))
    assert all(object_session(r) is store.session for r in runs)


def test_dataframes_read_in_chunks_equal_one_read(store, transform, monkeypatch):
    from flowprov.core.query import dataframe

    ln.save(
        [
            ln.Run(transform, reference=f"c{i}", params={"i": i}, status="completed" if i % 2 else "errored")
            for i in range(7)
        ]
    )
    whole = ln.Run.filter(reference__startswith="c").order_by("id").df(limit=None, features=True)
    monkeypatch.setattr(dataframe, "CHUNK_ROWS", 2)  # 7 rows: four chunks, the last one short
    chunked = ln.Run.filter(reference__startswith="c").order_by("id").df(limit=None, features=True)
    assert chunked.equals(whole) and list(chunked.dtypes) == list(whole.dtypes)
    assert list(chunked["i"]) == list(range(7)) and str(chunked.index.dtype) == "Int64"
    assert str(chunked["started_at"].dtype) == "datetime64[us, UTC]"
    assert list(chunked["_status_code"]) == [1, 0, 1, 0, 1, 0, 1]
    empty = ln.Run.filter(reference="none").df(limit=None)
    assert len(empty) == 0 and list(empty.columns) == list(whole.columns[: len(empty.columns)])


def test_cli_help_loads_neither_rich_nor_the_store():
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in ('rich', 'sqlalchemy', 'pandas') if m in sys.modules)))\n"
        "sys.argv = ['flowprov', '--help']\n"
        "from flowprov.cli import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage: flowprov" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
