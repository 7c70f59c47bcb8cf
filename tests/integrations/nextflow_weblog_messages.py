"""Weblog messages for tests: whole launches made from real trace files, and a real receiver process.

`launch_messages` turns every row of a trace into the `process_submitted`, `process_started` and
`process_completed` messages Nextflow's weblog sends, in the documented shape and raw units
(epoch-ms times, ms durations, bytes), between a `started` and a `completed` message. The unit
conversion here is written independently of flowprov's trace parser, so a test that compares the
live records with the file ingest compares two different readings of the same launch.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

NOT_YET_EXIT = 2147483647
DURATION_FIELDS = ("duration", "realtime", "time")
MEMORY_FIELDS = (
    "rss",
    "vmem",
    "peak_rss",
    "peak_vmem",
    "rchar",
    "wchar",
    "read_bytes",
    "write_bytes",
    "memory",
    "disk",
)
INT_FIELDS = ("task_id", "exit", "syscr", "syscw", "vol_ctxt", "inv_ctxt", "cpus", "attempt")
PERCENT_FIELDS = ("%cpu", "%mem")
SUBMIT_FIELDS = (
    "task_id", "hash", "native_id", "process", "module", "container", "tag", "name", "submit", "memory", "disk",
    "time", "attempt", "cpus", "workdir", "script", "scratch", "queue", "env",
)  # fmt: skip
UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _raw(name: str, text: str) -> Any:
    """One trace value in the weblog's raw units (None for '-')."""
    if text in ("-", ""):
        return None
    if name in ("submit", "start", "complete"):
        if text.isdigit():
            return int(text)
        when = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
        return round(when.timestamp() * 1000)
    if name in DURATION_FIELDS:
        if text.isdigit():
            return int(text)
        parts = re.findall(r"([\d.]+)(ms|d|h|m|s)", text.replace(" ", ""))
        return round(sum(float(n) * DURATION_UNITS[u] for n, u in parts))
    if name in MEMORY_FIELDS:
        number, _, unit = text.partition(" ")
        return round(float(number) * UNITS[unit or "B"])
    if name in PERCENT_FIELDS:
        return float(text.rstrip("%").replace(",", "."))
    if name in INT_FIELDS:
        return int(text)
    return text


def read_rows(trace: Path) -> list[dict[str, Any]]:
    """Rows of a trace (any separator, no multi-line fields) with raw values; exact duplicates once."""
    lines = trace.read_text().splitlines()
    sep = ";" if ";" in lines[0] else ("," if "," in lines[0] else "\t")
    header = lines[0].split(sep)
    rows, seen = [], set()
    for line in lines[1:]:
        if not line.strip() or line in seen:
            continue
        seen.add(line)
        rows.append({name: _raw(name, value) for name, value in zip(header, line.split(sep), strict=True)})
    return rows


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_messages(row: dict[str, Any], envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """submitted, started, completed for one trace row, as Nextflow sends them."""
    submitted = {k: row[k] for k in SUBMIT_FIELDS if k in row}
    submitted.update(status="SUBMITTED", exit=NOT_YET_EXIT, start=0)
    started = {**submitted, "status": "RUNNING", "start": row.get("start") or 0}
    completed = dict(row)
    out = []
    for event, trace, when in (
        ("process_submitted", submitted, row.get("submit")),
        ("process_started", started, row.get("start") or row.get("submit")),
        ("process_completed", completed, row.get("complete") or row.get("submit")),
    ):
        out.append({**envelope, "event": event, "utcTime": _iso(when), "trace": trace})
    return out


def launch_messages(
    trace: Path,
    *,
    session: str,
    run_name: str,
    pipeline: str,
    params: dict[str, Any] | None = None,
    launch_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """A whole launch: started, three messages per trace row (in trace order), completed."""
    rows = read_rows(trace)
    envelope = {"runName": run_name, "runId": session}
    executed = [r for r in rows if r.get("status") != "CACHED"]
    first = min((r["submit"] for r in executed if r.get("submit")), default=None)
    last = max((r["complete"] for r in executed if r.get("complete")), default=None)
    failed = {r.get("name") for r in rows if r.get("status") == "FAILED"}
    ok = {r.get("name") for r in rows if r.get("status") in ("COMPLETED", "CACHED")}
    workflow = {
        "runName": run_name,
        "sessionId": session,
        "commandLine": f"nextflow run {pipeline} -name {run_name}",
        "start": _iso(first),
        "launchDir": str(launch_dir) if launch_dir else None,
        "nextflow": {"version": "23.04.4"},
        "manifest": {"name": pipeline},
    }
    metadata = {"workflow": workflow, "parameters": params or {}}
    messages = [{**envelope, "event": "started", "utcTime": _iso(first), "metadata": metadata}]
    failures: dict[str, int] = {}
    for row in rows:
        if "attempt" not in row and row.get("name") in failures:  # a retry: Nextflow sends its attempt
            row = {**row, "attempt": failures[row["name"]] + 1}
        if row.get("status") == "FAILED":
            failures[row.get("name")] = row.get("attempt") or 1
        messages += task_messages(row, envelope)
    unresolved = failed - ok
    done = {**workflow, "complete": _iso(last), "success": not unresolved, "exitStatus": 1 if unresolved else 0}
    done["stats"] = {"succeedCount": len(ok), "failedCount": len(failed)}
    messages.append(
        {**envelope, "event": "completed", "utcTime": _iso(last), "metadata": {**metadata, "workflow": done}}
    )
    return messages


class ServeProcess:
    """A real `flowprov nextflow serve` on a free localhost port, and a keep-alive HTTP client for it."""

    def __init__(self, db_url: str, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowprov.cli", "nextflow", "serve", "--port", "0", "--db", db_url],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", first)
        if match is None:
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {first}{self.proc.stderr.read()}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def post_body(self, body: bytes) -> tuple[int, str]:
        self.conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        return response.status, response.read().decode()

    def post(self, message: dict[str, Any]) -> tuple[int, str]:
        return self.post_body(json.dumps(message).encode())

    def post_all(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            code, text = self.post(message)
            assert code == 200, (code, text, message)

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop the receiver (SIGTERM: it records what is queued first) and return its log."""
        self.conn.close()
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=120)
        return err
