"""The command line: every command and option documented, output, and errors."""

from __future__ import annotations

import json
import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app
from tests.conftest import REPO

runner = CliRunner()


def all_commands(group, prefix: str = "") -> dict:
    out = {}
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):
            out.update(all_commands(cmd, full + " "))
        else:
            out[full] = cmd
    return out


COMMANDS = all_commands(get_command(app))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_has_help(name):
    cmd = COMMANDS[name]
    assert (cmd.help or "").strip(), f"`flowprov {name}` has no help text"
    for param in cmd.params:
        kind = "option" if param.param_type_name == "option" else "argument"
        assert (getattr(param, "help", None) or "").strip(), f"`flowprov {name}` {kind} {param.name} has no help text"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_readme(name):
    readme = (REPO / "README.md").read_text()
    assert f"flowprov {name}" in readme, f"`flowprov {name}` is not documented in README.md"


def test_help_runs():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "runs" in result.output


@pytest.fixture
def recorded(store, tmp_path):
    t = ln.Transform(name="nf-core/rnaseq", key="nf-core/rnaseq", version="3.14").save()
    parent = ln.Run(
        t,
        reference="5477e033",
        reference_type="nextflow_session_id",
        name="loving_blackwell",
        status="completed",
        params={"genome": "GRCh38"},
    ).save()
    step = ln.Transform(key="nf-core/rnaseq#FASTQC", type="step").save()
    child = ln.Run(
        step,
        reference="ab/cdef12",
        reference_type="nextflow_task_hash",
        name="FASTQC (s1)",
        initiated_by_run=parent,
        status="completed",
    ).save()
    raw = tmp_path / "s1.fastq"
    raw.write_text("@r1\nACGT\n+\nIIII\n")
    out = tmp_path / "s1_fastqc.html"
    out.write_text("<html/>")
    a_in = ln.Artifact(raw, key="raw/s1.fastq").save()
    a_out = ln.Artifact(out, key="qc/s1_fastqc.html", run=child).save()
    child.input_artifacts.add(a_in)
    return {"store": store, "parent": parent, "child": child, "raw": raw, "out": out, "a_out": a_out}


def test_runs_filters_and_json(recorded):
    db = recorded["store"].url
    result = runner.invoke(app, ["runs", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} == {"loving_blackwell", "FASTQC (s1)"}
    result = runner.invoke(
        app,
        [
            "runs",
            "--db",
            db,
            "--reference-type",
            "nextflow_session_id",
            "--status",
            "completed",
            "--transform",
            "nf-core/rnaseq",
            "--since",
            "2000-01-01",
        ],
    )
    assert result.exit_code == 0
    rows = json.loads(result.output)  # piped output is JSON
    assert [r["name"] for r in rows] == ["loving_blackwell"]
    assert json.loads(runner.invoke(app, ["runs", "--db", db, "--reference", "nope"]).output) == []


def test_show_by_uid_and_by_reference(recorded):
    db = recorded["store"].url
    by_ref = json.loads(runner.invoke(app, ["show", "5477e033", "--db", db]).output)
    assert by_ref["name"] == "loving_blackwell" and by_ref["params"] == {"genome": "GRCh38"}
    assert [c["name"] for c in by_ref["child_runs"]] == ["FASTQC (s1)"]
    by_uid = json.loads(runner.invoke(app, ["show", recorded["child"].uid, "--db", db]).output)
    assert [a["key"] for a in by_uid["inputs"]] == ["raw/s1.fastq"] and [a["key"] for a in by_uid["outputs"]] == [
        "qc/s1_fastqc.html"
    ]
    assert by_uid["initiated_by_run"] == recorded["parent"].uid


def test_lineage_of_a_path(recorded):
    db = recorded["store"].url
    result = runner.invoke(app, ["lineage", str(recorded["out"]), "--format", "tree", "--db", db])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0].startswith(f"artifact {recorded['a_out'].uid}")
        and "FASTQC (s1)" in lines[1]
        and "s1.fastq" in lines[2]
    )
    mermaid = runner.invoke(
        app, ["lineage", recorded["raw"].as_posix(), "--downstream", "--format", "mermaid", "--db", db]
    ).stdout
    assert mermaid.startswith("flowchart TD") and recorded["child"].uid in mermaid
    dot = runner.invoke(app, ["lineage", recorded["child"].uid, "--format", "dot", "--db", db]).output
    assert dot.startswith("digraph")
    piped = json.loads(runner.invoke(app, ["lineage", str(recorded["out"]), "--db", db]).stdout)  # piped: JSON
    assert piped["start_run"] == recorded["child"].uid and piped["notes"] == []
    assert {e["path"] for e in piped["edges"]} == {recorded["out"].as_uri(), recorded["raw"].as_uri()}
    down = json.loads(
        runner.invoke(app, ["lineage", str(recorded["raw"]), "--downstream", "--json", "--db", db]).stdout
    )
    assert "matched by content hash" in down["notes"][0] and recorded["child"].uid in {r["uid"] for r in down["runs"]}


def test_transforms_and_artifacts(recorded):
    db = recorded["store"].url
    assert {t["key"] for t in json.loads(runner.invoke(app, ["transforms", "--db", db]).output)} == {
        "nf-core/rnaseq",
        "nf-core/rnaseq#FASTQC",
    }
    assert {a["key"] for a in json.loads(runner.invoke(app, ["artifacts", "--db", db, "--json"]).output)} == {
        "raw/s1.fastq",
        "qc/s1_fastqc.html",
    }


@pytest.mark.parametrize(
    "args",
    [
        ["show", "nope"],
        ["runs", "--status", "exploded"],
        ["runs", "--since", "yesterday"],
        ["lineage", "nope"],
        ["lineage", "x", "--format", "png"],
    ],
)
def test_errors_are_one_line_and_exit_2(recorded, args):
    result = runner.invoke(app, [*args, "--db", recorded["store"].url])
    assert result.exit_code == 2
    assert re.fullmatch(r"flowprov: error: [^\n]+\n", result.output), result.output


def test_init_migrate_where_and_instances(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0 and "created" in result.output and ".flowprov/flowprov.db" in result.output
    assert "up to date" in runner.invoke(app, ["init"]).output
    assert "already at 0005_run_plan_link_config" in runner.invoke(app, ["migrate"]).output
    assert "from project" in runner.invoke(app, ["where"]).output
    assert runner.invoke(app, ["instance", "add", "team", f"sqlite:///{tmp_path / 'team.db'}"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["instance", "list", "--json"]).output) == {
        "team": f"sqlite:///{tmp_path / 'team.db'}"
    }
    assert "team.db" in runner.invoke(app, ["where", "--db", "team"]).output
