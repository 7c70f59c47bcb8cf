"""`flowprov diff A [B]`: formats, --fail-on-change and bad arguments (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowprov.cli import app
from tests.diff.test_nextflow_diff import _launch
from tests.integrations.test_nextflow import ingest_quietly

runner = CliRunner()


@pytest.fixture
def two_launches(store, tmp_path):
    trace_a = _launch(tmp_path / "a", "tr a-z A-Z < raw.txt > upper.txt", ("ab" + "1" * 30, "cd" + "2" * 30), 1200)
    trace_b = _launch(
        tmp_path / "b", "tr a-z A-Z < raw.txt | sed s/READS/DATA/ > upper.txt", ("ef" + "3" * 30, "01" + "4" * 30), 3000
    )
    for trace, session, name in ((trace_a, "1" * 8, "first_go"), (trace_b, "2" * 8, "second_go")):
        ingest_quietly(
            trace,
            session_id=f"{session}-0000-0000-0000-000000000000",
            run_name=name,
            pipeline="main.nf",
            timezone="UTC",
        )
    return store.url


def flowprov(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowprov.cli", *args], capture_output=True, text=True, timeout=120)


def test_formats_and_fail_on_change(two_launches):
    db = two_launches
    result = runner.invoke(app, ["diff", "first_go", "second_go", "--format", "json", "--db", db])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema_version"] == 1 and data["changed"] is True
    assert list(data["layers"]) == ["files", "children", "facts"]
    md = runner.invoke(app, ["diff", "first_go", "second_go", "--format", "md", "--db", db]).output
    assert md.startswith("## flowprov diff") and "```diff" in md and "### Why" in md
    text = runner.invoke(app, ["diff", "second_go", "--db", db]).output  # one argument: the launch before
    assert "== Why ==" in text and "code of UPPER (1) changed" in text
    assert "== Params ==" in runner.invoke(app, ["diff", "first_go", "second_go", "--all", "--db", db]).output
    failing = runner.invoke(app, ["diff", "first_go", "second_go", "--fail-on-change", "--db", db])
    assert failing.exit_code == 1
    same = runner.invoke(app, ["diff", "first_go", "first_go", "--fail-on-change", "--db", db])
    assert same.exit_code == 0 and "No differences." in same.output
    lines = runner.invoke(
        app, ["diff", "first_go", "second_go", "--metrics-threshold", "3", "--format", "json", "--db", db]
    )
    assert "facts" not in json.loads(lines.output)["layers"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchrun"], "'nosuchrun' is not a run uid, reference or name"),
        (["first_go"], "has no earlier run to compare with"),
        (["first_go", "second_go", "--format", "xml"], "--format 'xml': use text, json or md"),
        (["first_go", "second_go", "--metrics-threshold", "0.5"], "metrics_threshold must be > 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(two_launches, args, message):
    result = flowprov("diff", *args, "--db", two_launches)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_a_path_that_no_run_wrote(two_launches, tmp_path):
    stray = Path(tmp_path / "stray.txt")
    stray.write_text("never registered\n")
    result = flowprov("diff", str(stray), "--db", two_launches)
    assert result.returncode == 2 and "no artifact has this location or content" in result.stderr
