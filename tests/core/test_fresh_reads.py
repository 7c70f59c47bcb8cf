"""A query answers from the database: a row changed by another process since this session loaded
it is read afresh (a notebook polling a pipeline's status sees it change), both stores."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import flowprov as ln


def test_a_query_sees_what_another_process_wrote(store, store_url):
    run = ln.Run(ln.Transform(key="poll.py", type="script").save(), name="polled").save()
    assert ln.Run.filter(name="polled").one().status == "started"
    other = textwrap.dedent(
        f"""
        import flowprov as ln
        ln.connect({store_url!r})
        run = ln.Run.get({run.uid!r})
        run.status = "completed"
        run.save()
        """
    )
    subprocess.run([sys.executable, "-c", other], check=True, timeout=120)
    assert ln.Run.filter(name="polled").one().status == "completed"
    assert run.status == "completed"  # the same record object, refreshed by the query


def test_unsaved_changes_survive_a_query(store):
    run = ln.Run(ln.Transform(key="edit.py", type="script").save(), name="before").save()
    run.name = "edited, not saved yet"
    assert [r.uid for r in ln.Run.filter(transform__key="edit.py")] == [run.uid]
    assert run.name == "edited, not saved yet"
    run.save()
    assert ln.Run.filter(name="edited, not saved yet").count() == 1
