"""The `flowprov ui` command itself: bad stores are one clear error, other hosts get a warning."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import flowprov as ln
from tests.ui.conftest import free_port

FLOWPROV = str(Path(sys.executable).parent / "flowprov")


def test_a_missing_store_is_one_clear_error(tmp_path):
    missing = tmp_path / "nowhere.db"
    done = subprocess.run([FLOWPROV, "ui", "--db", str(missing)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"flowprov: error: no store at {missing}: nothing has been recorded there")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not missing.exists()  # a viewer never creates a store


def test_another_host_warns_that_there_is_no_authentication(store_url):
    ln.connect(store_url)  # creates the schema
    port = free_port()
    process = subprocess.Popen(
        [FLOWPROV, "ui", "--db", store_url, "--host", "0.0.0.0", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        warning = process.stderr.readline()
        assert "warning" in warning and "no authentication" in warning
        assert "read-only" in process.stderr.readline() and "password" not in warning
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "flowprov ui did not answer"
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=10)
