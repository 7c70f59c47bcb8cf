"""Lineage on both stores: chains, fan-in, depth limits, cycles, rendering."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

import flowprov as ln
from flowprov.core.registry.links import run_input_artifact
from flowprov.lineage import downstream, upstream


def build_chain(tmp_path, n: int):
    """a0 -> run1 -> a1 -> run2 -> ... -> a_n, written in bulk."""
    step = ln.Transform(name="step", type="step").save()
    runs = ln.save([ln.Run(step, name=f"s{i}") for i in range(1, n + 1)])
    arts = []
    for i in range(n + 1):
        p = tmp_path / f"a{i}.txt"
        p.write_text(str(i))
        arts.append(ln.Artifact(p, run=runs[i - 1] if i else None))
    arts = ln.save(arts)
    store = ln.current_store()
    with store.transaction() as session:
        session.execute(
            insert(run_input_artifact), [{"run_id": runs[i].id, "artifact_id": arts[i].id} for i in range(n)]
        )
    return runs, arts


def test_thousand_step_chain(store, tmp_path):
    runs, arts = build_chain(tmp_path, 1000)
    up = upstream(arts[-1])
    assert len(up.runs) == 1000 and len(up.artifacts) == 1001 and len(up.edges) == 2000
    down = downstream(arts[0])
    assert len(down.runs) == 1000 and len(down.artifacts) == 1001
    ten = upstream(arts[-1], depth=10)
    assert len(ten.runs) == 10 and len(ten.artifacts) == 11
    assert {r.name for r in ten.runs} == {f"s{i}" for i in range(991, 1001)}
    assert upstream(arts[-1], depth=0).artifacts == [arts[-1]] and upstream(arts[-1], depth=0).runs == []
    from_run = upstream(runs[499], depth=1)
    assert [a.id for a in from_run.artifacts] == [arts[499].id] and [r.id for r in from_run.runs] == [runs[499].id]
    assert len(arts[-1].view_lineage().runs) == 1000


def test_thousand_way_fan_in(store, tmp_path):
    merge = ln.Transform(name="merge", type="step").save()
    make = ln.Transform(name="make", type="step").save()
    producers = ln.save([ln.Run(make, name=f"p{i}") for i in range(1000)])
    inputs = []
    for i, r in enumerate(producers):
        p = tmp_path / f"in{i}.txt"
        p.write_text(f"input {i}")
        inputs.append(ln.Artifact(p, run=r))
    inputs = ln.save(inputs)
    run = ln.Run(merge, name="merge").save()
    run.input_artifacts.add(*inputs)
    out = tmp_path / "merged.txt"
    out.write_text("merged")
    merged = ln.Artifact(out, run=run).save()
    up = upstream(merged)
    assert len(up.runs) == 1001 and len(up.artifacts) == 1001 and len(up.edges) == 2001
    assert len(downstream(inputs[0]).artifacts) == 2


def test_cycle_in_bad_data_terminates(store, tmp_path):
    runs, arts = build_chain(tmp_path, 3)
    runs[0].input_artifacts.add(arts[3])  # a3 feeds run1 again: a cycle
    assert len(upstream(arts[3]).artifacts) == 4
    assert len(upstream(arts[3], depth=50).artifacts) == 4


def test_rendering(store, tmp_path):
    runs, arts = build_chain(tmp_path, 2)
    lin = upstream(arts[-1])
    mermaid = lin.to_mermaid()
    assert mermaid.startswith("flowchart TD") and f"n{runs[0].uid} --> n{arts[1].uid}" in mermaid
    assert lin.to_dot().startswith("digraph lineage {") and f'"{arts[0].uid}" -> "{runs[0].uid}"' in lin.to_dot()
    tree = lin.to_tree().splitlines()
    assert tree[0].startswith(f"artifact {arts[2].uid}") and tree[1].strip().startswith(f"run {runs[1].uid}")
    assert lin._repr_markdown_().startswith("```mermaid")
    with pytest.raises(TypeError):
        upstream(runs[0].transform)
