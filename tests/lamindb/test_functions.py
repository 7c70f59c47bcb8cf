"""lamindb's @ln.flow() / @ln.step() (tests/pydata/test_track_flow.py, test_track_step.py) and
Transform.from_path / from_git (test_transform.py, test_transform_from_git.py, on a local clone)."""

from __future__ import annotations

import concurrent.futures
import subprocess

import pandas as pd
import pytest

import flowprov as ln


@ln.flow(global_run="clear")
def make_chunk(chunk_id: int, label: str, source: ln.Artifact | None = None) -> str:
    assert ln.context.run is not None
    df = pd.DataFrame({"id": range(chunk_id * 3, chunk_id * 3 + 3)})
    return ln.Artifact.from_dataframe(df, key=f"chunk_{chunk_id}.parquet").save().key


@ln.step()
def step_chunk(chunk_id: int) -> int:
    df = pd.DataFrame({"id": [chunk_id, chunk_id + 100]})
    return ln.Artifact.from_dataframe(df, key=f"step_{chunk_id}.parquet").save().run.id


def test_flow_records_a_run_with_params_and_outputs(store, tmp_path):
    (tmp_path / "in.txt").write_text("x")
    source = ln.Artifact(tmp_path / "in.txt").save()
    assert ln.context.run is None
    key = make_chunk(1, "ok", source)
    assert ln.context.run is None  # global_run="clear"
    run = ln.Artifact.get(key=key).run
    assert run.status == "completed" and run.started_at < run.finished_at
    assert run.params.get_values() == {"chunk_id": 1, "label": "ok", "source": f"Artifact[{source.uid}]"}
    assert run.transform.kind == "function" and run.transform.key.endswith(":make_chunk")
    assert "def make_chunk" in run.transform.source_code


def test_flow_params_skip_values_that_contradict_their_annotation(store):
    @ln.flow(global_run="clear")
    def typed(count: int, label: str, ratio: float = 0.5) -> str:
        return ln.context.run.uid

    assert ln.Run.get(typed("not-an-int", "ok")).params.get_values() == {"label": "ok", "ratio": 0.5}
    assert ln.Run.get(typed(3, "ok", 1)).params.get_values() == {"count": 3, "label": "ok", "ratio": 1}


def test_flow_refuses_a_running_global_run_and_records_errors(store):
    @ln.flow(global_run="clear")
    def failing() -> None:
        raise ValueError("flow failed")

    with pytest.raises(ValueError, match="flow failed"):
        failing()
    assert ln.Run.get(transform__key__endswith=".failing").status == "errored"
    ln.track(key="scripts/driver.py")
    try:
        with pytest.raises(RuntimeError, match=r"Please use @ln.step\(\) or clear the global run context"):
            make_chunk(2, "x")
    finally:
        ln.finish()


def test_steps_need_a_global_run_and_each_thread_gets_its_own(store):
    with pytest.raises(RuntimeError, match=r"Please track the global run context before using @ln.step\(\)"):
        step_chunk(0)

    @ln.flow(global_run="clear")
    def fan_out() -> list[int]:
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            return list(pool.map(step_chunk, range(3)))

    run_ids = fan_out()
    assert len(set(run_ids)) == 3
    steps = [ln.Run.get(i) for i in run_ids]
    parent = steps[0].initiated_by_run
    assert parent.transform.key.endswith(".fan_out") and all(s.initiated_by_run == parent for s in steps)
    assert sorted(s.params.get_values()["chunk_id"] for s in steps) == [0, 1, 2]
    assert all(s.status == "completed" for s in steps)


def test_a_flow_whose_store_fails_still_runs(monkeypatch, capfd):
    # recording never changes the function's result: a store on a closed port is one stderr line
    from flowprov.core.store import connection

    dead = connection.Store("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2", check_schema=False)
    monkeypatch.setattr(connection, "_current", dead)

    @ln.flow(global_run="clear")
    def double(n: int) -> int:
        return n * 2

    assert double(21) == 42
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowprov: error: could not record the run of ")


def test_from_path_infers_kind_and_key(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "pipelines" / "wf.py"
    script.parent.mkdir()
    script.write_text("print('hello')\n")
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text('{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}\n')
    transform = ln.Transform.from_path(script)
    assert (transform.kind, transform.key, transform.source_code) == ("script", "pipelines/wf.py", "print('hello')\n")
    assert ln.Transform.from_path("analysis.ipynb").kind == "notebook"
    saved = transform.save()
    assert ln.Transform.from_path(script) is saved  # the same key and source: the stored record
    with pytest.raises(ln.errors.InvalidArgument, match="no such file"):
        ln.Transform.from_path(tmp_path / "nope.py")


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args], check=True)


def test_from_git_reads_a_local_clone(store, tmp_path):
    repo = tmp_path / "task_batch_integration"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "main.nf").write_text("workflow { v1 }\n")
    _git(repo, "add", "main.nf")
    _git(repo, "commit", "-qm", "v1")
    _git(repo, "tag", "v1.0.0")
    (repo / "main.nf").write_text("workflow { v2 }\n")
    _git(repo, "commit", "-qam", "v2")
    _git(repo, "remote", "add", "origin", "https://github.com/openproblems-bio/task_batch_integration.git")
    url = "https://github.com/openproblems-bio/task_batch_integration"
    head = ln.Transform.from_git(repo, "main.nf")
    assert head.key == "openproblems-bio/task_batch_integration/main.nf" and head.version_tag is None
    assert head.source_code.startswith(f"repo: {url}\npath: main.nf\ncommit:")
    assert head.reference.startswith(f"{url}/blob/") and head.reference_type == "url"
    tagged = ln.Transform.from_git(repo, "main.nf", version="v1.0.0", description="first")
    assert tagged.version_tag == "v1.0.0" and tagged.description == "first"
    assert tagged.source_code != head.source_code and tagged.reference != head.reference
    sliding = ln.Transform.from_git(repo, "main.nf", branch="HEAD", entrypoint="main")
    assert sliding.source_code.startswith(f"repo: {url}\npath: main.nf\nentrypoint: main\nbranch:")
    assert sliding.reference == f"{url}/tree/HEAD/main.nf"
    saved = ln.Transform.from_git(repo, "main.nf", key="mypipeline").save()
    assert ln.Transform.from_git(repo, "main.nf", key="mypipeline") is saved
    with pytest.raises(ln.errors.InvalidArgument, match="local clone"):
        ln.Transform.from_git(url, "main.nf")
    with pytest.raises(ln.errors.InvalidArgument, match="is not a file"):
        ln.Transform.from_git(repo, "missing.nf")
