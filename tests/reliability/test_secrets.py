"""Secrets are never stored or printed: URL passwords, bearer tokens, secret-named values and
secret options, through track(), params, a Nextflow history and params file, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import flowprov as ln
from flowprov.core.redaction import is_secret_key, redact_argv, redact_text
from tests.conftest import REPO

SECRETS = ("hunter2", "S3CR3TKEY", "sk-live-123", "tok3n", "pa55")


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} in {text[:2000]}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://ann:hunter2@db.example.org:5432/prov", "postgresql://ann:***@db.example.org:5432/prov"),
        ("s3://AKIA:S3CR3TKEY@bucket/reads/a.fastq", "s3://AKIA:***@bucket/reads/a.fastq"),
        ("see https://u:p@x.org/a and ftp://v:w@y.org/", "see https://u:***@x.org/a and ftp://v:***@y.org/"),
        ("Authorization: Bearer sk-live-123", "Authorization: Bearer ***"),
        ("postgresql://ann@db/prov (no password)", "postgresql://ann@db/prov (no password)"),
        ("plain text, a:b@c without scheme", "plain text, a:b@c without scheme"),
    ],
)
def test_redact_text(given, expected):
    assert redact_text(given) == expected


def test_secret_keys_and_options():
    for key in ("password", "DB_PASSWORD", "pwd", "auth", "github_pat", "bearer", "pass", "api-key", "Authorization"):
        assert is_secret_key(key), key
    for key in ("author", "path", "patient", "passes", "compass", "bypass_cache", "authors"):
        assert not is_secret_key(key), key
    argv = ["run.py", "--pass", "pa55", "--auth=tok3n", "--dsn", "postgresql://a:hunter2@h/d", "--author", "Ann"]
    assert redact_argv(argv) == [
        "run.py",
        "--pass",
        "***",
        "--auth=***",
        "--dsn",
        "postgresql://a:***@h/d",
        "--author",
        "Ann",
    ]


def test_track_stores_no_secret(store_url, tmp_path):
    script = tmp_path / "analysis.py"
    script.write_text(
        textwrap.dedent(
            """
            import flowprov as ln
            ln.track(params={"dsn": "postgresql://ann:hunter2@db/prov", "bucket": "s3://AKIA:S3CR3TKEY@b/x",
                             "header": "Bearer sk-live-123", "pwd": "pa55", "author": "Ann", "path": "/data/x"})
            ln.finish()
            """
        )
    )
    args = ["--db-url", "postgresql://ann:hunter2@db/prov", "--auth", "tok3n"]
    env = {**os.environ, "FLOWPROV_DB": store_url}
    result = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    ln.connect(store_url)
    [run] = ln.Run.filter(transform__key__endswith="analysis.py").list()
    assert run.params.get_values() == {
        "dsn": "postgresql://ann:***@db/prov",
        "bucket": "s3://AKIA:***@b/x",
        "header": "Bearer ***",
        "pwd": "***",
        "author": "Ann",
        "path": "/data/x",
    }
    assert run.aux["cli_args"][-4:] == ["--db-url", "postgresql://ann:***@db/prov", "--auth", "***"]
    shown = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "show", run.uid, "--json", "--db", store_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert_no_secret(shown.stdout + shown.stderr)


def test_nextflow_history_and_params_file_store_no_secret(store, tmp_path):
    from flowprov.integrations.nextflow import ingest

    data = REPO / "tests" / "data" / "nextflow"
    launch = tmp_path / "launch"
    (launch / ".nextflow").mkdir(parents=True)
    history = (data / "openproblems_nextflow_history.tsv").read_text().rstrip("\n")
    history += " --db postgresql://ann:hunter2@db/prov --password pa55\n"
    (launch / ".nextflow" / "history").write_text(history)
    shutil.copy(data / "openproblems_loving_blackwell_trace.txt", launch / "trace.txt")
    params = launch / "params.json"
    params.write_text(json.dumps({"input": "s3://AKIA:S3CR3TKEY@bucket/in.csv", "token": "tok3n", "genome": "GRCh38"}))
    [result] = ingest(
        launch / "trace.txt", history=launch / ".nextflow" / "history", params_file=params, timezone="UTC"
    )
    run = result.run
    assert run.params.get_values()["input"] == "s3://AKIA:***@bucket/in.csv"
    assert run.params.get_values()["genome"] == "GRCh38"
    stored = json.dumps({"params": run.params.get_values(), "aux": run.aux})
    assert_no_secret(stored)
    assert "postgresql://ann:***@db/prov" in stored


def test_instance_commands_print_no_password(tmp_path):
    env = {**os.environ}
    add = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "instance", "add", "team", "postgresql://ann:hunter2@db/prov"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    listed = subprocess.run(
        [sys.executable, "-m", "flowprov.cli", "instance", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert add.returncode == 0 and listed.returncode == 0, add.stderr + listed.stderr
    assert json.loads(listed.stdout) == {"team": "postgresql://ann:***@db/prov"}
    assert_no_secret(add.stdout + listed.stdout)
