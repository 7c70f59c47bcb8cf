"""Lineage of every file of real Snakemake workflows whose jobs write equal bytes (empty outputs,
empty logs) and of a re-run whose output bytes did not change: hooks and logger plugin, both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app
from flowprov.core.hashing import hash_path
from flowprov.lineage import locate, upstream

pytest.importorskip("snakemake")
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

HOOKS = """
from flowprov.integrations import snakemake as flowprov_snakemake

onstart:   flowprov_snakemake.onstart(workflow, log)
onsuccess: flowprov_snakemake.onsuccess(workflow, log)
onerror:   flowprov_snakemake.onerror(workflow, log)
"""

# like smk-simple-slurm's log-file-date (empty outputs and logs) and coderefinery's word-count
RULES = """
rule all:
    input: expand("output/two/{s}.txt", s=["A", "B"]), "plot/isles.png"

rule one:
    input: "data/{s}.txt"
    output: "output/one/{s}.txt"
    log: "logs/one/{s}.log"
    shell: "touch {output} {log}"

rule two:
    input: "output/one/{s}.txt"
    output: "output/two/{s}.txt"
    log: "logs/two/{s}.log"
    shell: "touch {output} {log}"

rule count_words:
    input: "books/isles.txt"
    output: "processed/isles.dat"
    shell: "if [ $(wc -w < {input}) -gt 3 ]; then echo many; else echo few; fi > {output}"

rule make_plot:
    input: "processed/isles.dat"
    output: "plot/isles.png"
    shell: "tr a-z A-Z < {input} > {output}"
"""


def make_workflow(root: Path, hooks: bool) -> Path:
    for sample in ("A", "B"):
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"{sample}.txt").write_text(f"sample {sample}\n")
    (root / "books").mkdir()
    (root / "books" / "isles.txt").write_text("the isles of the north sea\n")
    (root / "Snakefile").write_text((HOOKS if hooks else "") + RULES)
    return root


def run_snakemake(root: Path, store_url: str, hooks: bool) -> None:
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    plugin = [] if hooks else ["--logger", "flowprov", "--logger-flowprov-db", store_url]
    result = subprocess.run([SNAKEMAKE, "-c1", *plugin], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def lineage_json(path: Path, store_url: str, *args: str) -> dict:
    result = CliRunner().invoke(app, ["lineage", str(path), "--json", "--db", store_url, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "logger-plugin"])
def test_every_file_names_the_job_that_wrote_it(store_url, tmp_path, hooks):
    root = make_workflow(tmp_path / "wf", hooks)
    run_snakemake(root, store_url, hooks)
    ln.connect(store_url)
    [execution] = ln.Run.filter(reference_type="snakemake_workflow_id").list()
    # eight empty files, one artifact: every location still names its own job
    assert len({hash_path(root / p).hash for p in ("output/one/A.txt", "logs/one/B.log", "output/two/B.txt")}) == 1
    for rule in ("one", "two"):
        for sample in ("A", "B"):
            job = f"{rule} (s={sample})"
            for rel in (f"output/{rule}/{sample}.txt", f"logs/{rule}/{sample}.log"):
                start = locate(root / rel)
                assert (start.run.name, start.matched_by) == (job, "location"), rel
                assert start.run.initiated_by_run == execution
    graph = lineage_json(root / "output/two/B.txt", store_url)
    assert {r["name"] for r in graph["runs"]} == {"two (s=B)", "one (s=B)"} and graph["notes"] == []
    by_uid = {r["uid"]: r["name"] for r in graph["runs"]}
    assert by_uid[graph["start_run"]] == "two (s=B)"
    assert (root / "data/B.txt").as_uri() in {e["path"] for e in graph["edges"]}
    two_b = ln.Run.get(name="two (s=B)")
    up = upstream(two_b)
    assert {r.name for r in up.runs} == {"two (s=B)", "one (s=B)"}
    assert {p for _, _, p in up.located_edges} == {(root / "output/one/B.txt").as_uri(), (root / "data/B.txt").as_uri()}
    # every job lists what it wrote, also the bytes another job created first
    for rule in ("one", "two"):
        for sample in ("A", "B"):
            assert ln.Run.get(name=f"{rule} (s={sample})").output_artifacts.count() == 1
    empty = ln.Artifact.get(hash=hash_path(root / "logs/one/A.log").hash)
    assert empty.recreating_runs.count() == 3 and empty.run.name in {
        f"{r} (s={s})" for r in ("one", "two") for s in "AB"
    }
    assert not any("outputs_already_registered" in (r.aux or {}) for r in ln.Run.filter())


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "logger-plugin"])
def test_rerun_with_unchanged_output_bytes_leads_to_the_rerun(store_url, tmp_path, hooks):
    root = make_workflow(tmp_path / "wf", hooks)
    run_snakemake(root, store_url, hooks)
    plot_before = hash_path(root / "plot/isles.png").hash
    (root / "books" / "isles.txt").write_text("the isles of the north sea, edited\n")  # still "many" words
    run_snakemake(root, store_url, hooks)
    assert hash_path(root / "plot/isles.png").hash == plot_before  # the same bytes again
    ln.connect(store_url)
    first, second = ln.Run.filter(reference_type="snakemake_workflow_id").order_by("id").list()
    new_book = ln.Artifact.get(hash=hash_path(root / "books/isles.txt").hash)
    graph = lineage_json(root / "plot/isles.png", store_url)
    runs = {r["uid"]: r for r in graph["runs"]}
    plot_rerun = ln.Run.get(name="make_plot", initiated_by_run=second)
    count_rerun = ln.Run.get(name="count_words", initiated_by_run=second)
    assert graph["start_run"] == plot_rerun.uid and set(runs) == {plot_rerun.uid, count_rerun.uid}
    assert new_book.uid in {a["uid"] for a in graph["artifacts"]}
    old_book = ln.Artifact.filter(path=new_book.path).exclude(id=new_book.id)  # the first version of the book
    assert old_book.count() == 1
    assert all(a.uid not in {x["uid"] for x in graph["artifacts"]} for a in old_book)
    assert {r.id for r in upstream(plot_rerun).runs} == {plot_rerun.id, count_rerun.id}
    assert plot_rerun.output_artifacts.count() == 1 and plot_rerun.recreated_artifacts.count() == 1
    plot_first = ln.Run.get(name="make_plot", initiated_by_run=first)
    assert {r.id for r in upstream(plot_first).runs} == {
        plot_first.id,
        ln.Run.get(name="count_words", initiated_by_run=first).id,
    }
