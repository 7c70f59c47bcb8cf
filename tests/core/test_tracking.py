"""track()/finish() with real script subprocesses and a headless notebook, on both stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flowprov as ln
from flowprov.core.tracking.context import redact_argv


def run_script(
    tmp_path: Path,
    store_url: str,
    body: str,
    *args: str,
    name: str = "analysis.py",
    wait: bool = True,
    env: dict | None = None,
):
    script = tmp_path / name
    script.write_text(textwrap.dedent(body))
    full_env = {**os.environ, "FLOWPROV_DB": store_url, **(env or {})}
    full_env.pop("FLOWPROV_INITIATED_BY_RUN", None) if env is None or "FLOWPROV_INITIATED_BY_RUN" not in env else None
    cmd = [sys.executable, str(script), *args]
    if not wait:
        return subprocess.Popen(
            cmd, cwd=tmp_path, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(cmd, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120)


SUCCESS = """
    import flowprov as ln
    ln.track(params={"learning_rate": 0.01, "layers": [64, 32], "db_password": "hunter2", "nested": {"api_key": "k"}})
    open("input.csv", "w").write("a,b\\n1,2\\n")
    ln.track_input("input.csv")
    open("result.txt", "w").write("3\\n")
    ln.track_output("result.txt")
    ln.finish()
"""


def test_script_success(store_url, tmp_path):
    result = run_script(tmp_path, store_url, SUCCESS, "--token", "s3cret", "--n=3")
    assert result.returncode == 0, result.stderr
    ln.connect(store_url)
    run = ln.Run.get(transform__key="analysis.py")
    assert run.status == "completed" and run.finished_at is not None
    assert run.transform.type == "script" and "ln.track(" in run.transform.source_code
    assert run.params.get_values() == {
        "learning_rate": 0.01,
        "layers": [64, 32],
        "db_password": "***",
        "nested": {"api_key": "***"},
    }
    assert run.aux["cli_args"][1:] == ["--token", "***", "--n=3"]
    assert [a.path.name for a in run.input_artifacts] == ["input.csv"]
    assert [a.path.name for a in run.output_artifacts] == ["result.txt"]
    assert run.environment is not None and "SQLAlchemy==" in Path(run.environment.local_path).read_text()
    # a second run in the same environment shares the environment record
    assert run_script(tmp_path, store_url, SUCCESS).returncode == 0
    runs = ln.Run.filter(transform__key="analysis.py").list()
    assert len(runs) == 2 and len({r.environment_id for r in runs}) == 1
    assert ln.Transform.filter(key="analysis.py").count() == 1  # same source, same transform


def test_changed_script_is_a_new_transform_version(store_url, tmp_path):
    assert run_script(tmp_path, store_url, "import flowprov as ln\nln.track()\n").returncode == 0
    assert run_script(tmp_path, store_url, "import flowprov as ln\nln.track()\nprint('changed')\n").returncode == 0
    ln.connect(store_url)
    versions = ln.Transform.filter(key="analysis.py").order_by("id").list()
    assert len(versions) == 2 and [v.is_latest for v in versions] == [False, True]
    assert versions[0].uid[:12] == versions[1].uid[:12]


def test_uncaught_exception_marks_errored_and_keeps_exit_code(store_url, tmp_path):
    result = run_script(tmp_path, store_url, "import flowprov as ln\nln.track()\nraise ValueError('bad input row 7')\n")
    assert result.returncode == 1 and "ValueError: bad input row 7" in result.stderr
    ln.connect(store_url)
    run = ln.Run.get(transform__key="analysis.py")
    assert run.status == "errored" and run.aux["error"] == "ValueError: bad input row 7"
    assert "bad input row 7" in run.aux["traceback"]


def test_no_finish_completes_at_exit(store_url, tmp_path):
    result = run_script(tmp_path, store_url, "import flowprov as ln\nln.track()\nprint('done')\n")
    assert result.returncode == 0
    ln.connect(store_url)
    assert ln.Run.get(transform__key="analysis.py").status == "completed"


def test_sys_exit_nonzero_without_finish(store_url, tmp_path):
    result = run_script(tmp_path, store_url, "import sys, flowprov as ln\nln.track()\nsys.exit(3)\n")
    assert result.returncode == 3
    ln.connect(store_url)
    assert ln.Run.get(transform__key="analysis.py").status == "completed"  # documented: exit without finish()


def test_sigterm_marks_aborted_and_keeps_the_signal(store_url, tmp_path):
    proc = run_script(
        tmp_path,
        store_url,
        "import time, flowprov as ln\nln.track()\nprint('ready', flush=True)\ntime.sleep(60)\n",
        wait=False,
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    ln.connect(store_url)
    run = ln.Run.get(transform__key="analysis.py")
    assert run.status == "aborted" and run.aux["error"] == "terminated by SIGTERM"


def test_sigint_marks_aborted(store_url, tmp_path):
    proc = run_script(
        tmp_path,
        store_url,
        "import time, flowprov as ln\nln.track()\nprint('ready', flush=True)\ntime.sleep(60)\n",
        wait=False,
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    ln.connect(store_url)
    assert ln.Run.get(transform__key="analysis.py").status == "aborted"


def test_initiated_by_run_from_the_environment(store_url, tmp_path):
    parent_body = """
        import subprocess, sys, flowprov as ln
        ln.track()
        subprocess.run([sys.executable, "child.py"], check=True)
    """
    (tmp_path / "child.py").write_text("import flowprov as ln\nln.track()\n")
    result = run_script(tmp_path, store_url, parent_body, name="parent.py")
    assert result.returncode == 0, result.stderr
    ln.connect(store_url)
    parent = ln.Run.get(transform__key="parent.py")
    child = ln.Run.get(transform__key="child.py")
    assert child.initiated_by_run.uid == parent.uid
    assert [r.uid for r in parent.initiated_runs.all()] == [child.uid]


def test_git_facts(store_url, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(
        ["git", "remote", "add", "origin", "https://user:pw@example.org/lab/pipeline.git"], cwd=repo, check=True
    )
    (repo / "scripts").mkdir()
    (repo / "scripts" / "train.py").write_text("import flowprov as ln\nln.track()\n")
    (repo / "uv.lock").write_text("version = 1\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    assert subprocess.run([sys.executable, "scripts/train.py"], cwd=repo, env=env).returncode == 0
    ln.connect(store_url)
    run = ln.Run.get(transform__key="scripts/train.py")
    assert run.aux["git"] == {"commit": commit, "remote": "https://example.org/lab/pipeline.git", "dirty": False}
    [lock_uid] = run.aux["environment_files"]
    assert ln.Artifact.get(lock_uid).uri.endswith("/repo/uv.lock")


def test_track_with_a_transform_and_redaction():
    assert redact_argv(["x", "--password", "p", "--api-key=k", "--n", "3"]) == [
        "x",
        "--password",
        "***",
        "--api-key=***",
        "--n",
        "3",
    ]


def test_track_in_process_with_custom_transform(store, tmp_path):
    t = ln.Transform(name="my pipeline", type="pipeline")
    run = ln.track(t, params={"a": 1})
    assert ln.context.transform.name == "my pipeline" and ln.context.run is run
    assert os.environ["FLOWPROV_INITIATED_BY_RUN"] == run.uid
    out = tmp_path / "made.txt"
    out.write_text("made in a tracked context")
    artifact = ln.Artifact(out).save()  # defaults to the tracked run
    assert artifact.run_id == run.id
    ln.finish()
    assert ln.Run.get(run.uid).status == "completed"
    assert ln.Artifact(tmp_path / "made.txt").save().run_id == run.id


@pytest.mark.slow
def test_notebook_headless(store_url, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import flowprov as ln\nrun = ln.track(params={'alpha': 0.5})"),
        nbformat.v4.new_code_cell("open('nb_out.txt', 'w').write('x')\nln.track_output('nb_out.txt')\nln.finish()"),
    ]
    path = tmp_path / "explore.ipynb"
    nbformat.write(nb, path)
    env_before = dict(os.environ)
    os.environ["FLOWPROV_DB"] = store_url
    os.environ["FLOWPROV_NOTEBOOK"] = str(path)  # what JPY_SESSION_NAME gives under Jupyter
    os.environ.pop("FLOWPROV_INITIATED_BY_RUN", None)
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    ln.connect(store_url)
    run = ln.Run.get(transform__key="explore.ipynb")
    assert run.transform.type == "notebook" and "ln.track(" in run.transform.source_code
    assert run.status == "completed" and run.params.get_values() == {"alpha": 0.5}
    assert [a.path.name for a in run.output_artifacts] == ["nb_out.txt"]


def test_track_works_twice_in_one_process(store):
    ln.track(ln.Transform(name="first"))
    ln.finish()
    ln.track(ln.Transform(name="second"))
    ln.finish()
    assert ln.Run.filter(transform__name="first").count() == 1 and ln.Run.filter(transform__name="second").count() == 1
    assert ln.context.transform.name == "second"


def test_track_output_of_bytes_seen_before_is_linked(store, tmp_path):
    out = tmp_path / "same.txt"
    out.write_text("identical")
    first = ln.track(ln.Transform(name="writer"))
    ln.track_output(out)
    ln.finish()
    second = ln.track(ln.Transform(name="writer"))
    artifact = ln.track_output(out)
    ln.finish()
    assert artifact.run_id == first.id
    again = ln.Run.get(second.uid)
    assert list(again.output_artifacts) == [artifact] and list(again.recreated_artifacts) == [artifact]
    assert [r.uid for r in artifact.recreating_runs] == [second.uid]
    from flowprov.lineage import locate

    assert locate(out).run.uid == second.uid  # the last run that wrote the path


def test_track_input_without_a_run_is_a_clear_error(store, tmp_path):
    with pytest.raises(RuntimeError, match="call flowprov.track"):
        ln.track_input(tmp_path)
