"""A tracked script whose store cannot be written still runs, unchanged; its run goes to a spool
file that `flowprov spool replay` writes exactly once (real processes, both stores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

import flowprov as ln

SCRIPT = textwrap.dedent(
    """
    import sys
    import flowprov as ln

    ln.track(params={"n": 3, "label": "offline"})
    with open("result.txt", "w") as fh:
        fh.write("the script's own work\\n")
    ln.track_output("result.txt")
    print("the script ran to its end")
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    """
)


@contextmanager
def unwritable(store_url: str, tmp_path: Path, fault: str):
    """A URL for the same store that cannot be written: unreachable, or read-only."""
    if fault == "unreachable":
        yield (
            "postgresql://postgres@127.0.0.1:1/test" if store_url.startswith("postgresql") else str(tmp_path / "dir.db")
        )
        return
    ln.connect(store_url)  # the store exists, with its schema
    if store_url.startswith("postgresql"):
        yield store_url.replace("options=", "options=-cdefault_transaction_read_only%3Don%20")
        return
    db = Path(store_url.removeprefix("sqlite:///"))
    subprocess.run(["chattr", "+i", str(db)], check=True)  # read-only even for root
    try:
        yield store_url
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


# each fault with one exit code: the exit code is the script's own and passes through either way
@pytest.mark.parametrize(("fault", "exit_code"), [("unreachable", 0), ("read-only", 3)])
def test_script_outcome_unchanged_spool_written_replay_exact(store_url, tmp_path, fault, exit_code):
    (tmp_path / "dir.db").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "analysis.py").write_text(SCRIPT)
    with unwritable(store_url, tmp_path, fault) as bad_url:
        env = {**os.environ, "FLOWPROV_DB": bad_url}
        env.pop("FLOWPROV_INITIATED_BY_RUN", None)
        done = subprocess.run(
            [sys.executable, "analysis.py", str(exit_code)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == exit_code, done.stderr
    assert done.stdout.strip() == "the script ran to its end" and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("flowprov: warning: cannot write the run of analysis.py"), lines
    assert "flowprov spool replay" in lines[1]
    spool = Path(os.environ["XDG_DATA_HOME"]) / "flowprov" / "spool"
    [pending] = sorted(spool.glob("spool-*.json"))
    assert str(pending) in lines[1]

    listed = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "spool", "list", "--json"], capture_output=True, text=True, timeout=60
    )
    assert [f["path"] for f in json.loads(listed.stdout)] == [str(pending)]
    replay = [sys.executable, "-m", "flowprov.cli", "spool", "replay", "--db", store_url]
    first = subprocess.run(replay, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "1 new run(s) of 1" in first.stdout, first.stdout + first.stderr
    assert not pending.exists() and (spool / "done" / pending.name).exists()
    again = subprocess.run(
        [*replay[:-2], str(spool / "done" / pending.name), *replay[-2:]], capture_output=True, text=True
    )
    assert again.returncode == 0 and "0 new run(s) of 1" in again.stdout, again.stdout + again.stderr

    ln.connect(store_url)
    [run] = ln.Run.filter(transform__key="analysis.py").list()
    assert run.status == "completed"  # sys.exit(n) is not a failure signal, as in the store
    assert run.params.get_values() == {"n": 3, "label": "offline"}
    assert [Path(a.path).name for a in run.output_artifacts] == ["result.txt"]
    assert run.environment is not None and run.started_at < run.finished_at
    assert "ln.track(params=" in run.transform.source_code and run.transform.type == "script"
