"""A diff across managers: a Nextflow launch against a script run; layers that do not apply stay empty."""

from __future__ import annotations

import flowprov as ln
from tests.diff.test_nextflow_diff import _launch
from tests.integrations.test_nextflow import ingest_quietly


def test_nextflow_launch_against_a_script_run(store, tmp_path):
    trace = _launch(tmp_path / "nf", "tr a-z A-Z < raw.txt > upper.txt", ("ab" + "1" * 30, "cd" + "2" * 30), 1200)
    [launch] = ingest_quietly(
        trace, session_id="1" * 8 + "-0000-0000-0000-000000000000", run_name="nf_go", timezone="UTC"
    )
    script = ln.Transform(key="analysis/upper.py", type="script", source_code="print('upper')\n").save()
    run = ln.Run(script, params={"case": "upper"}, status="completed").save()
    d = ln.diff(launch.run, run)
    data = d.to_dict()
    assert d.changed and list(data["layers"]) == ["transform", "params", "files", "children", "facts"]
    fields = {e["field"]: (e["a"], e["b"]) for e in data["layers"]["transform"]["entries"]}
    assert fields["type"] == ("pipeline", "script") and fields["key"][1] == "analysis/upper.py"
    assert "+print('upper')" in data["layers"]["transform"]["source_diff"]
    assert data["layers"]["params"]["entries"] == [{"path": "case", "change": "added", "a": None, "b": "upper"}]
    assert {(e["name"], e["change"]) for e in data["layers"]["children"]["entries"]} == {
        ("UPPER (1)", "removed"),
        ("REVERSE (1)", "removed"),
    }
    assert {f["change"] for f in data["layers"]["files"]["outputs"]} == {"removed"}
    facts = {e["field"]: (e["a"], e["b"]) for e in data["layers"]["facts"]["entries"]}
    assert facts["reference_type"] == ("nextflow_session_id", None)
    assert data["why"] == []  # no output exists in both runs with different bytes
    assert "environment" not in data["layers"]  # neither run recorded an environment
