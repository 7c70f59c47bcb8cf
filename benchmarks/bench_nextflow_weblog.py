"""Nextflow live recording (issue 23): weblog events POSTed to `flowprov nextflow serve`, into SQLite.

A launch of N tasks is 3N task events (submitted, started, completed, in raw units as Nextflow
sends them) between `started` and `completed`, POSTed over localhost HTTP by 4 client processes
(keep-alive connections; each task's events in order). Time: first POST until the receiver has
written everything and exited (SIGTERM makes it record what is queued first). Baseline, in the same
run: the same messages POSTed to a standard-library HTTP server that only reads and drops them -
the floor any receiver has. The receiver's own CPU time per event says what it sustains with a
core to itself, whatever else the machine runs (the clients share the same 2 cores). Memory: the
receiver's resident set after each quarter of the events (flat = the same), and its peak.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fmt_seconds, table

SESSION = "0badc0de-0000-4000-8000-00000000beef"
PROCESSES = ["FASTQC", "TRIMGALORE", "STAR_ALIGN", "SAMTOOLS_SORT", "SALMON_QUANT", "PICARD_MARKDUPLICATES"]
CLIENTS = 4
FLOOR_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\\n")
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H); s.daemon_threads = True
print(f"listening on http://127.0.0.1:{s.server_address[1]}/", file=sys.stderr, flush=True)
s.serve_forever()
"""


def task_events(i: int, rng: random.Random) -> list[bytes]:
    full = f"{rng.getrandbits(128):032x}"
    process = f"NFCORE_RNASEQ:RNASEQ:{rng.choice(PROCESSES)}"
    submit = 1_700_000_000_000 + i * 1000
    head = {
        "task_id": i,
        "hash": f"{full[:2]}/{full[2:8]}",
        "name": f"{process} (sample_{i})",
        "process": process,
        "tag": f"sample_{i}",
        "native_id": 10_000 + i,
        "submit": submit,
        "workdir": f"/scratch/work/{full[:2]}/{full[2:]}",
        "container": "quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0",
        "cpus": 2,
        "memory": 6442450944,
        "attempt": 1,
        "module": [],
    }
    done = {**head, "status": "COMPLETED", "exit": 0, "start": submit + 300, "complete": submit + 60_000}
    done.update({"duration": 60_000, "realtime": 59_000, "%cpu": 187.5, "peak_rss": 734003200, "rchar": 91_234_567})
    envelope = {"runName": "bench_live", "runId": SESSION, "utcTime": "2023-11-14T22:13:20Z"}
    messages = [
        {**envelope, "event": "process_submitted", "trace": {**head, "status": "SUBMITTED", "exit": 2147483647}},
        {**envelope, "event": "process_started", "trace": {**head, "status": "RUNNING", "start": submit + 300}},
        {**envelope, "event": "process_completed", "trace": done},
    ]
    return [json.dumps(m).encode() for m in messages]


def launch_message(event: str) -> bytes:
    workflow = {"runName": "bench_live", "sessionId": SESSION, "commandLine": "nextflow run nf-core/rnaseq"}
    if event == "completed":
        workflow.update(success=True, complete="2023-11-15T00:00:00Z")
    return json.dumps(
        {"runName": "bench_live", "runId": SESSION, "event": event, "metadata": {"workflow": workflow}}
    ).encode()


def start_server(command: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", proc.stderr.readline())
    if match is None:
        proc.kill()
        raise RuntimeError("the server did not start")
    return proc, int(match.group(1))


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def post_all(port: int, tasks: list[list[bytes]], pid: int) -> list[float]:
    """POST every task's events from CLIENTS threads; RSS samples of the server after each quarter."""
    post(port, launch_message("started"))
    samples: list[float] = []
    quarter = max(1, len(tasks) // 4)
    for start in range(0, len(tasks), quarter):
        part = tasks[start : start + quarter]
        clients = [multiprocessing.Process(target=_client, args=(port, part[k::CLIENTS])) for k in range(CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
            if c.exitcode != 0:
                raise RuntimeError(f"a client failed (exit {c.exitcode})")
        samples.append(rss_mib(pid))
    post(port, launch_message("completed"))
    return samples


def _client(port: int, tasks: list[list[bytes]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for events in tasks:
        for body in events:
            conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
    conn.close()


def post(port: int, body: bytes) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/", body=body)
    assert conn.getresponse().status == 200
    conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_run(
    command: list[str], tasks: list[list[bytes]], db: Path | None = None
) -> tuple[float, list[float], float, float]:
    """Wall time until all is written and the server exited, RSS samples, peak RSS, server CPU seconds."""
    proc, port = start_server(command)
    start = time.perf_counter()
    samples = post_all(port, tasks, proc.pid)
    while db is not None and recorded_tasks(db) < len(tasks):  # written behind: wait for the last batch
        time.sleep(0.2)
    cpu = cpu_seconds(proc.pid)
    peak = rss_mib(proc.pid, "VmHWM")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"the server exited with {proc.returncode}")
    return elapsed, samples, peak, cpu


def recorded_tasks(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db, timeout=60)
    query = "SELECT count(*) FROM flowprov_run WHERE reference_type = 'nextflow_task_hash' AND _status_code = 0"
    (count,) = conn.execute(query).fetchone()
    conn.close()
    return int(count)


def run(quick: bool = False) -> str:
    n = 5_000 if quick else 20_000
    rng = random.Random(11)
    tasks = [task_events(i, rng) for i in range(1, n + 1)]
    events = 3 * n
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "live.db"
        serve = [sys.executable, "-m", "flowprov.cli", "nextflow", "serve", "--port", "0", "--db", f"sqlite:///{db}"]
        ours, samples, peak, ours_cpu = timed_run(serve, tasks, db)
        recorded = recorded_tasks(db)
        floor, _, _, floor_cpu = timed_run([sys.executable, "-c", FLOOR_SERVER], tasks)
    if recorded != n:
        raise RuntimeError(f"{recorded} of {n} tasks recorded")
    rows = [
        [
            f"{n:,}-task launch live: {events:,} task events POSTed, all written to SQLite",
            fmt_seconds(ours),
            fmt_seconds(floor),
            f"{ours / floor:.2f}",
            f"{events / ours:,.0f} task events/s sustained (floor: {events / floor:,.0f}/s); baseline: an HTTP server that drops them",
        ],
        [
            "receiver CPU time per task event (user + system)",
            f"{ours_cpu / events * 1e6:.0f} µs",
            f"{floor_cpu / events * 1e6:.0f} µs",
            f"{ours_cpu / floor_cpu:.2f}",
            f"one core's worth: {events / ours_cpu:,.0f} task events/s (the HTTP floor alone: {events / floor_cpu:,.0f}/s)",
        ],
        [
            "receiver memory after 1/4, 1/2, 3/4, all of the events",
            " / ".join(f"{s:.0f}" for s in samples) + " MiB",
            "-",
            "-",
            f"resident set of the `serve` process; peak {peak:.0f} MiB",
        ],
    ]
    return table("Nextflow live recording (weblog)", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
