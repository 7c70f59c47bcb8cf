"""Collections read by runs are walked; scripts' track_output links every write (both stores)."""

from __future__ import annotations

import flowprov as ln
from flowprov.lineage import downstream, locate, of_path, upstream


def test_collections_used_as_inputs_are_walked(store, tmp_path):
    make = ln.Transform(name="make", type="step").save()
    merge = ln.Transform(name="merge", type="step").save()
    producers = [ln.Run(make, name=f"make {s}").save() for s in "AB"]
    members = []
    for s, run in zip("AB", producers, strict=True):
        path = tmp_path / f"{s}.tsv"
        path.write_text(f"counts {s}\n")
        members.append(ln.Artifact(path, run=run).save())
    counts = ln.Collection(members, key="counts", run=False).save()
    merger = ln.Run(merge, name="merge").save()
    merger.input_collections.add(counts)
    out = tmp_path / "merged.tsv"
    out.write_text("merged\n")
    ln.Artifact(out, run=merger).save()
    up = of_path(out)
    assert up.start_run == merger and {r.name for r in up.runs} == {"merge", "make A", "make B"}
    assert [c.key for c in up.collections] == ["counts"]
    assert (members[0].uid, counts.uid, (tmp_path / "A.tsv").as_uri()) in up.located_edges
    assert "collection " in up.to_tree() and "flowchart TD" in up.to_mermaid()
    down = downstream(members[1])
    assert {r.name for r in down.runs} == {"merge"} and ln.Artifact.get(path=out.as_uri()) in down.artifacts
    assert {r.name for r in upstream(merger, depth=1).runs} == {"merge"}


def test_script_outputs_written_again_lead_to_the_last_writer(store, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    out = tmp_path / "result.txt"
    runs = []
    for version in ("1", "2"):
        data.write_text(f"x\n{version}\n")
        run = ln.track(ln.Transform(name="analysis"), params={"v": version})
        ln.track_input(data)
        out.write_text("same result\n")  # the new input gives the same output bytes
        ln.track_output(out)
        ln.finish()
        runs.append(ln.Run.get(run.uid))
    start = locate(out)
    assert start.run == runs[1] and start.matched_by == "location"
    graph = of_path(out)
    [read] = [a for a in graph.artifacts if a.uri == data.as_uri()]
    assert read.hash == ln.Artifact.filter(path=data.as_uri()).order_by("-id").first().hash  # version 2
    assert {r.uid for r in graph.runs} == {runs[1].uid}
    assert list(runs[1].recreated_artifacts) == list(runs[1].output_artifacts) == [start.artifact]
