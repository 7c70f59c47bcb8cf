"""`flowprov diff` on two real Snakemake executions differing by a config value, a rule's code or one
input file; the last also as text, Markdown and HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowprov as ln
from tests.diff.helpers import check_golden
from tests.integrations.test_snakemake import HOOKS, snakemake

pytest.importorskip("snakemake")

RULES = """
configfile: "config.yaml"

rule all:
    input: "results/summary.tsv"

rule count:
    input: "raw/{sample}.txt"
    output: "counts/{sample}.txt"
    params: factor=config["factor"]
    shell: "echo {wildcards.sample} $(( $(wc -l < {input}) * {params.factor} )) > {output}"

rule summary:
    input: expand("counts/{sample}.txt", sample=config["samples"])
    output: "results/summary.tsv"
    shell: "cat {input} > {output}"
"""


def make_workflow(root: Path) -> Path:
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "a.txt").write_text("1\n2\n")
    (root / "raw" / "b.txt").write_text("1\n2\n3\n")
    (root / "config.yaml").write_text("samples: [a, b]\nfactor: 2\n")
    (root / "Snakefile").write_text(HOOKS + RULES)
    return root


def run_twice(tmp_path: Path, store_url: str, change) -> tuple:
    """Run the workflow, apply `change`, run it again (all jobs); return both workflow runs."""
    root = make_workflow(tmp_path / "wf")
    first = snakemake(root, store_url)
    assert first.returncode == 0, first.stderr[-3000:]
    change(root)
    second = snakemake(root, store_url, "--forceall")
    assert second.returncode == 0, second.stderr[-3000:]
    ln.connect(store_url)
    a, b = ln.Run.filter(reference_type="snakemake_workflow_id").order_by("id").list()
    return root, a, b


def chains(d) -> list[str]:
    return sorted(c["text"] for w in d.why for c in w["chains"])


def changed_steps(d) -> dict[str, list[str]]:
    return {e["name"]: e["differences"] for e in d.layer("children")["entries"] if e["change"] != "same"}


def test_config_value(store_url, tmp_path):
    root, a, b = run_twice(
        tmp_path, store_url, lambda r: (r / "config.yaml").write_text("samples: [a, b]\nfactor: 3\n")
    )
    d = ln.diff(a, b)
    assert d.changed
    assert [(p["path"], p["a"], p["b"], p["delta"]) for p in d.to_dict()["layers"]["params"]["entries"]] == [
        ("factor", 2, 3, 1)
    ]
    assert "transform" not in d.to_dict()["layers"] and "environment" not in d.to_dict()["layers"]
    files = d.to_dict()["layers"]["files"]
    assert files["inputs"] == []  # raw/a.txt and raw/b.txt: same bytes
    assert [(f["name"], f["change"]) for f in files["outputs"]] == [
        ("counts/a.txt", "changed"),
        ("counts/b.txt", "changed"),
        ("results/summary.tsv", "changed"),
    ]
    assert changed_steps(d) == {
        "count (sample=a)": ["params", "outputs"],
        "count (sample=b)": ["params", "outputs"],
        "summary": ["inputs", "outputs"],
        "all": ["inputs"],  # the target rule read the changed summary
    }
    assert chains(d) == [
        "counts/a.txt changed ← count (sample=a) re-ran ← param factor: 2 → 3 (count (sample=a))",
        "counts/b.txt changed ← count (sample=b) re-ran ← param factor: 2 → 3 (count (sample=b))",
        "results/summary.tsv changed ← summary re-ran ← counts/a.txt changed ← count (sample=a) re-ran"
        " ← param factor: 2 → 3 (count (sample=a))",
        "results/summary.tsv changed ← summary re-ran ← counts/b.txt changed ← count (sample=b) re-ran"
        " ← param factor: 2 → 3 (count (sample=b))",
    ]
    check_golden("snakemake_config", d.to_dict(), root)


def test_rule_code(store_url, tmp_path):
    def edit(root: Path) -> None:
        text = (root / "Snakefile").read_text()
        (root / "Snakefile").write_text(text.replace("* {params.factor} ))", "* {params.factor} + 1 ))"))

    root, a, b = run_twice(tmp_path, store_url, edit)
    d = ln.diff(b.uid)  # one argument: compared with the previous run of the same pipeline
    data = d.to_dict()
    assert data["a"]["uid"] == a.uid and data["b"]["uid"] == b.uid
    transform = data["layers"]["transform"]
    assert [e["field"] for e in transform["entries"]] == ["hash"]
    assert (
        '-    shell: "echo {wildcards.sample} $(( $(wc -l < {input}) * {params.factor} ))' in transform["source_diff"]
    )
    assert (
        '+    shell: "echo {wildcards.sample} $(( $(wc -l < {input}) * {params.factor} + 1 ))'
        in transform["source_diff"]
    )
    assert "params" not in data["layers"]
    [(step, step_diff)] = data["layers"]["children"]["source_diffs"].items()  # once per rule, not per job
    assert (
        step == "Snakefile#count"
        and "+echo {wildcards.sample} $(( $(wc -l < {input}) * {params.factor} + 1 ))" in step_diff
    )
    assert changed_steps(d) == {
        "count (sample=a)": ["code", "outputs"],
        "count (sample=b)": ["code", "outputs"],
        "summary": ["inputs", "outputs"],
        "all": ["inputs"],  # the target rule read the changed summary
    }
    assert chains(d) == [
        "counts/a.txt changed ← count (sample=a) re-ran ← code of count (sample=a) changed",
        "counts/b.txt changed ← count (sample=b) re-ran ← code of count (sample=b) changed",
        "results/summary.tsv changed ← summary re-ran ← counts/a.txt changed ← count (sample=a) re-ran"
        " ← code of count (sample=a) changed",
        "results/summary.tsv changed ← summary re-ran ← counts/b.txt changed ← count (sample=b) re-ran"
        " ← code of count (sample=b) changed",
    ]
    check_golden("snakemake_code", data, root)


def test_one_input_file(store_url, tmp_path):
    root, a, b = run_twice(tmp_path, store_url, lambda r: (r / "raw" / "b.txt").write_text("1\n2\n3\n4\n"))
    out = root / "results" / "summary.tsv"
    d = ln.diff(a.reference, str(out))  # a Snakemake workflow id, and a file the second run wrote
    data = d.to_dict()
    assert list(data["layers"]) == ["files", "children"]
    assert [(f["name"], f["change"]) for f in data["layers"]["files"]["inputs"]] == [("raw/b.txt", "changed")]
    assert [(f["name"], f["change"]) for f in data["layers"]["files"]["outputs"]] == [
        ("counts/b.txt", "changed"),
        ("results/summary.tsv", "changed"),
    ]
    assert changed_steps(d) == {
        "count (sample=b)": ["inputs", "outputs"],
        "summary": ["inputs", "outputs"],
        "all": ["inputs"],
    }
    assert chains(d) == [
        "counts/b.txt changed ← count (sample=b) re-ran ← raw/b.txt changed",
        "results/summary.tsv changed ← summary re-ran ← counts/b.txt changed ← count (sample=b) re-ran"
        " ← raw/b.txt changed",
    ]
    check_golden("snakemake_input", data, root)
    assert json.loads(json.dumps(data)) == data  # plain JSON
    # the same diff as text, Markdown and HTML (one pair of executions: each costs seconds)
    text = d.text()
    print(text)
    assert "== Inputs and outputs ==" in text and "- input raw/b.txt: changed (6 → 8 bytes)" in text
    assert "results/summary.tsv changed ← summary re-ran ← counts/b.txt changed" in text
    assert "== Params ==" not in text and "== Params ==" in d.text(all=True)
    md = d.markdown()
    assert md.startswith("## flowprov diff") and "### Why" in md
    assert "<h4>Why</h4>" in d._repr_html_()
