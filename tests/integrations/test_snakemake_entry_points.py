"""Hooks alone, `--logger flowprov` alone and both together record the same provenance.

One real workflow (includes in a subfolder, configfile + --config, conda: without --sdm conda,
params:, log:, run:, script:, a flaky job retried once, a checkpoint, temp(), report(), group:,
shadow:) runs three times, each way into its own store of the same kind; the three stores are
then compared record by record, ignoring uids, ids and times' values. Outside git (on SQLite)
and in a clean repository (on PostgreSQL). The Snakemake features the hooks must see through are checked here on all three.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import flowprov as ln
from tests.conftest import drop_pg_schema, new_pg_schema_url, require_module
from tests.integrations.test_snakemake import HOOKS, SNAKEMAKE

require_module("snakemake")

MAIN = """
configfile: "config.yaml"
include: "rules/extra.smk"

rule all:
    input:
        expand("out/{s}.txt", s=config["samples"]),
        "out/stamp.txt", "out/summary.txt", "out/flaky.txt", "out/gathered.txt", "out/final.txt"

rule copy:
    input: "in/{s}.txt"
    output: "out/{s}.txt"
    params: n=3, suffix=config["suffix"]
    log: "logs/{s}.log"
    shell: "(cat {input}; echo {params.suffix}) > {output}; echo copied > {log}"

rule stamp:
    output: "out/stamp.txt"
    run:
        import time
        time.sleep(1.5)
        with open(output[0], "w") as fh:
            fh.write("stamped\\n")
"""

EXTRA = """
rule summary:
    input: expand("out/{s}.txt", s=config["samples"])
    output: "out/summary.txt"
    conda: "../envs/summary.yaml"
    script: "../scripts/summary.py"

rule make_temp:
    input: "in/a.txt"
    output: temp("out/tmp.txt")
    group: "prep"
    shell: "(cat {input}; echo made) > {output}"

rule final:
    input: "out/tmp.txt"
    output: report("out/final.txt", caption="../caption.rst", category="Results")
    shadow: "minimal"
    shell: "(cat {input}; echo final) > {output}"

rule flaky:
    output: "out/flaky.txt"
    shell: "if [ ! -e marker ]; then touch marker; echo first try fails >&2; exit 1; fi; echo ok > {output}"

checkpoint split:
    output: directory("out/parts")
    shell: "mkdir -p {output}; echo 1 > {output}/p1.txt; echo 2 > {output}/p2.txt"

rule part:
    input: "out/parts/{i}.txt"
    output: "out/done/{i}.txt"
    shell: "cp {input} {output}"

def gathered_parts(wildcards):
    parts = checkpoints.split.get().output[0]
    return expand("out/done/{i}.txt", i=glob_wildcards(parts + "/{i}.txt").i)

rule gather:
    input: gathered_parts
    output: "out/gathered.txt"
    shell: "cat {input} > {output}"
"""

GITIGNORE = ".snakemake/\nout/\nlogs/\nmarker\n"


def write_workflow(root: Path, hooks: bool, git: bool) -> Path:
    for folder in ("in", "rules", "scripts", "envs"):
        (root / folder).mkdir(parents=True)
    for s in ("a", "b"):
        (root / "in" / f"{s}.txt").write_text(f"sample {s}\n")
    (root / "config.yaml").write_text("samples: [a, b]\nsuffix: base\nwho: world\n")
    (root / "scripts" / "summary.py").write_text(
        "with open(snakemake.output[0], 'w') as fh:\n    fh.write(str(len(snakemake.input)) + '\\n')\n"
    )
    (root / "rules" / "extra.smk").write_text(EXTRA)
    (root / "envs" / "summary.yaml").write_text("channels: [conda-forge]\ndependencies: [python=3.11]\n")
    (root / "caption.rst").write_text("The final table.\n")
    (root / "uv.lock").write_text("version = 1\n# the project's lock file\n")
    (root / "Snakefile").write_text(HOOKS + MAIN)  # the same bytes in every mode: the same source
    if not hooks:  # plugin only: the hook lines stay, commented out, so the source differs in one way only
        (root / "Snakefile").write_text(HOOKS.replace("\non", "\n# on").replace("\nfrom", "\n# from") + MAIN)
    if git:
        (root / ".gitignore").write_text(GITIGNORE)
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
        env["GIT_COMMITTER_EMAIL"] = "t@x"
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "wf"]):
            subprocess.run(["git", *cmd], cwd=root, env=env, check=True)
    return root


def run_mode(root: Path, url: str, mode: str) -> subprocess.CompletedProcess:
    args = [SNAKEMAKE, "-c1", "--retries", "1", "--config", "suffix=cli", "who=hpc"]
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWPROV_DB", "FLOWPROV_INITIATED_BY_RUN")}
    if mode == "hooks":
        env["FLOWPROV_DB"] = url
    else:
        args += ["--logger", "flowprov", "--logger-flowprov-db", url]
    if mode == "both":  # a store given to the plugin wins over FLOWPROV_DB, with the hooks too
        env["FLOWPROV_DB"] = f"sqlite:///{root.parent / 'elsewhere.db'}"
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _rel(path: str, root: Path) -> str:
    return path.replace(root.resolve().as_uri() + "/", "").replace(str(root.resolve()) + "/", "")


def _artifacts(items: Any, root: Path) -> list[tuple[str, str | None]]:
    """Relative path, and the hash of deterministic content (logs and benchmarks hold times)."""
    return sorted((_rel(a.uri, root), a.hash if "/out/" in a.uri else None) for a in items)


def _run_record(run: Any, root: Path, workflow_id: str) -> dict[str, Any]:
    aux = {k: v for k, v in (run.aux or {}).items() if k not in ("cli_args", "workdir", "resources", "rule_file")}
    for attempt in aux.get("attempts", []):
        assert attempt["start"] <= attempt["end"]  # an end before a start is never stored
    aux["attempts"] = [(a["status"], bool(a["error"])) for a in aux.get("attempts", [])]
    if "git" in aux:
        aux["git"] = {**aux["git"], "commit": _version(aux["git"]["commit"])}
    if "shellcmd" in aux:
        aux["shellcmd"] = _rel(aux["shellcmd"], root)
    if "environment_files" in aux:  # lock files by artifact uid: each store has its own
        aux["environment_files"] = len(aux["environment_files"])
    if "conda_env" in aux:
        aux["conda_env"] = (_rel(aux["conda_env"]["path"], root), aux["conda_env"]["hash"])
    for mark in aux.get("report", []):
        mark["caption"] = _rel(mark["caption"], root)
    assert run.started_at is not None and run.finished_at is not None and run.started_at <= run.finished_at
    return {
        "transform": (run.transform.key, run.transform.type, _version(run.transform.version_tag)),
        "name": run.name,
        "status": run.status,
        "reference": (run.reference or "").replace(workflow_id, "<wf>"),
        "params": run.params.get_values(),
        "aux": aux,
        "inputs": _artifacts(run.input_artifacts, root),
        "outputs": _artifacts(run.output_artifacts, root),
        "report": run.report is not None,
        "environment": (_rel(run.environment.uri, root), run.environment.hash) if run.environment else None,
    }


def snapshot(url: str, root: Path) -> dict[str, Any]:
    ln.connect(url)
    [wf] = ln.Run.filter(reference_type="snakemake_workflow_id").list()
    every = ln.Run.filter().list()
    runs = {r.name or "<execution>": _run_record(r, root, wf.reference) for r in every}
    assert len(runs) == len(every)  # no run recorded twice
    transforms = sorted((t.key, t.type, _version(t.version_tag), t.source_code) for t in ln.Transform.filter().list())
    jobs = {r.name: r for r in wf.initiated_runs.all()}
    [tmp_written] = jobs["make_temp"].output_artifacts.list()
    [tmp_read] = jobs["final"].input_artifacts.list()  # the temp file Snakemake deleted, as it was
    temp = (tmp_written.id == tmp_read.id, tmp_written.run_id == jobs["make_temp"].id, tmp_written.size)
    return {"runs": runs, "transforms": transforms, "durations": _durations(wf), "temp": temp}


def _version(version: str | None) -> str | None:
    """Each repository has its own commit (dates differ): whether a version was set is what counts."""
    return "<commit>" if version else None


def _durations(wf: Any) -> dict[str, float]:
    return {r.name: (r.finished_at - r.started_at).total_seconds() for r in wf.initiated_runs.all()}


@pytest.fixture
def three_urls(store_url, tmp_path):
    """Three fresh stores of the store_url's kind: hooks, plugin, both."""
    if store_url.startswith("sqlite"):
        yield {m: f"sqlite:///{tmp_path / f'{m}.db'}" for m in ("hooks", "plugin", "both")}
        return
    extra = [new_pg_schema_url(), new_pg_schema_url()]
    try:
        yield {"hooks": store_url, "plugin": extra[0][1], "both": extra[1][1]}
    finally:
        from flowprov.core.store.connection import disconnect_all

        disconnect_all()
        for schema, _ in extra:
            drop_pg_schema(schema)


def test_hooks_plugin_and_both_record_the_same(three_urls, tmp_path):
    # git or not is the adapter's concern, not the store's: SQLite outside git, PostgreSQL in a
    # clean repository (each store once: the comparison is the suite's slowest test)
    git = three_urls["hooks"].startswith("postgresql")
    snapshots = {}
    for mode, url in three_urls.items():
        root = write_workflow(tmp_path / mode, hooks=mode != "plugin", git=git)
        result = run_mode(root, url, mode)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "flowprov: error" not in result.stderr, result.stderr[-3000:]
        assert not (root / "out" / "tmp.txt").exists()  # Snakemake deleted the temp file
        snapshots[mode] = snapshot(url, root)
    assert not (tmp_path / "elsewhere.db").exists()  # nothing went to FLOWPROV_DB
    hooks, plugin, both = snapshots["hooks"], snapshots["plugin"], snapshots["both"]
    assert hooks["runs"] == both["runs"] == plugin["runs"]
    assert hooks["transforms"] == both["transforms"]
    # plugin only: the same transforms but for the commented-out hook lines in the Snakefile's text
    uncommented = [
        (k, t, v, (s or "").replace("# on", "on").replace("# from", "from") or None)
        for k, t, v, s in plugin["transforms"]
    ]
    assert uncommented == hooks["transforms"]
    runs = hooks["runs"]
    execution = runs["<execution>"]
    assert execution["params"] == {"samples": ["a", "b"], "suffix": "cli", "who": "hpc"}  # files, then --config
    assert execution["report"] and execution["status"] == "completed"
    assert execution["environment"] is not None and execution["aux"]["environment_files"] == 1  # uv.lock
    assert sorted(p for p, _ in execution["inputs"]) == ["in/a.txt", "in/b.txt"]
    assert {"split", "part (i=p1)", "part (i=p2)", "gather", "flaky", "stamp", "summary"} <= set(runs)
    flaky = runs["flaky"]
    assert flaky["status"] == "completed" and "error" not in flaky["aux"]
    assert flaky["aux"]["attempts"] == [("errored", True), ("completed", False)] and flaky["aux"]["attempt"] == 2
    assert runs["copy (s=a)"]["params"] == {"wildcards": {"s": "a"}, "n": 3, "suffix": "cli"}
    assert [p for p, _ in runs["copy (s=a)"]["outputs"]] == ["logs/a.log", "out/a.txt"]
    for mode in ("hooks", "plugin", "both"):
        assert snapshots[mode]["durations"]["stamp"] >= 1.4  # the run: block's true time, not the hooks' moment
    assert all((v is not None) == git for _, _, v, _ in hooks["transforms"])  # a clean repository: its commit
    _check_features(hooks, plugin, both)


def _check_features(hooks: dict[str, Any], plugin: dict[str, Any], both: dict[str, Any]) -> None:
    """temp(), report(), group:, shadow:, conda: and a rule with only inputs, the same in all three."""
    runs = hooks["runs"]
    assert hooks["temp"] == plugin["temp"] == both["temp"] == (True, True, len("sample a\nmade\n"))
    assert [p for p, _ in runs["<execution>"]["inputs"]] == ["in/a.txt", "in/b.txt"]  # the temp file is not external
    [mark] = runs["final"]["aux"]["report"]
    assert mark == {"path": "out/final.txt", "caption": "caption.rst", "category": "Results", "subcategory": None}
    assert "group" not in runs["make_temp"]["aux"]  # the local executor runs no groups
    assert runs["final"]["aux"]["shadow"] == "minimal"
    assert runs["summary"]["aux"]["conda_env"][0] == "envs/summary.yaml"  # named, not the environment
    assert runs["stamp"]["aux"]["times"] == "Snakemake's job events in this process"
    sources = {k.rsplit("#", 1)[-1]: s for k, _, _, s in hooks["transforms"]}
    assert sources["all"].startswith("rule all:\n    input:\n        expand(")  # a rule with only inputs
    assert sources["stamp"].count('with open(output[0], "w") as fh:') == 1  # a run: block, each line once
    labels = [line for line in sources["Snakefile"].splitlines() if line.startswith("# ---- ")]
    assert labels == ["# ---- Snakefile", "# ---- rules/extra.smk"]  # included files by their path
