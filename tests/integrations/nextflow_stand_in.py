"""A stand-in `nextflow` executable for tests: Nextflow itself cannot be installed here (its
launcher downloads the engine), so this writes what `nextflow run` leaves behind, in the real
formats: a trace (-with-trace), a `.nextflow/history` line, and an exit code. Given
`-with-weblog URL`, it POSTs the weblog messages of the same launch there as it goes (started,
submitted/started/completed per task in raw units, completed), as Nextflow does."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path

SESSION = "12345678-1234-1234-1234-123456789abc"  # env STAND_IN_SESSION gives another launch

STAND_IN = textwrap.dedent('''\
    #!{python}
    """A stand-in for `nextflow`: writes a real-format trace, history line and log, then exits."""
    import sys, os, time
    args = sys.argv[1:]
    def value(opt):
        return args[args.index(opt) + 1] if opt in args else None
    name, trace = value("-name"), value("-with-trace")
    session = os.environ.get("STAND_IN_SESSION", "12345678-1234-1234-1234-123456789abc")
    # Nextflow's task hashes include the session id: another session's tasks are other tasks
    h1, h2 = ("ab/cdef12", "cd/ef1234") if session.startswith("12345678") else (session[:2] + "/" + session[2:8], session[9:11] + "/" + session[11:13] + session[14:18])
    os.makedirs(".nextflow", exist_ok=True)
    def work_dir(short, n, ok=True):
        """A task's work dir as Nextflow leaves it: its script, exit code and what it wrote."""
        path = os.path.abspath(os.path.join("work", short.split("/")[0], short.split("/")[1] + "0" * 24))
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, ".command.sh"), "w") as out:
            out.write(f"#!/bin/bash -ue\\necho 'Hello {{n}}' > hello_{{n}}.txt\\n")
        with open(os.path.join(path, ".exitcode"), "w") as out:
            out.write("0" if ok else "1")
        if ok:
            with open(os.path.join(path, f"hello_{{n}}.txt"), "w") as out:
                out.write(f"Hello {{n}} from {{session}}\\n")
        return path
    status = "FAILED" if "--fail" in args else "COMPLETED"
    w1, w2 = work_dir(h1, 1), work_dir(h2, 2, status == "COMPLETED")
    with open(trace, "w") as fh:
        fh.write("task_id\\thash\\tnative_id\\tname\\tstatus\\texit\\tsubmit\\tduration\\trealtime\\t%cpu\\tpeak_rss\\tpeak_vmem\\trchar\\twchar\\tworkdir\\n")
        fh.write(f"1\\t{{h1}}\\t101\\tSAY_HELLO (1)\\tCOMPLETED\\t0\\t2026-11-27 10:00:00.000\\t1.2s\\t519ms\\t98.5%\\t29.8 MB\\t1 GB\\t912 B\\t0\\t{{w1}}\\n")
        fh.write(f"2\\t{{h2}}\\t102\\tSAY_HELLO (2)\\t{{status}}\\t{{1 if status == 'FAILED' else 0}}\\t2026-11-27 10:00:01.000\\t1s\\t1s\\t100%\\t1 MB\\t1 MB\\t0\\t0\\t{{w2}}\\n")
    with open(".nextflow/history", "a") as fh:
        fh.write(f"2026-11-27 10:00:00\\t3s\\t{{name}}\\t{{'ERR' if '--fail' in args else 'OK'}}\\t{{'a' * 40}}\\t{{session}}\\tnextflow {{' '.join(args)}}\\n")
    print("N E X T F L O W  ~  stand-in", flush=True)
    weblog = value("-with-weblog")
    if weblog:
        import datetime, json, urllib.request
        def post(event, **body):
            message = {{"runName": name, "runId": session, "event": event, "utcTime": "2026-11-27T10:00:00Z", **body}}
            request = urllib.request.Request(weblog, json.dumps(message).encode(), {{"Content-Type": "application/json"}})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200, response.read()
        def ms(text):  # the trace's local time as epoch milliseconds
            return round(datetime.datetime.fromisoformat(text).timestamp() * 1000)
        workflow = {{"runName": name, "sessionId": session, "commandLine": "nextflow " + " ".join(args),
                     "commitId": "a" * 40, "nextflow": {{"version": "stand-in"}}}}
        post("started", metadata={{"workflow": workflow, "parameters": {{"greeting": "hi"}}}})
        tasks = [
            {{"task_id": 1, "hash": h1, "native_id": 101, "name": "SAY_HELLO (1)", "status": "COMPLETED",
              "exit": 0, "submit": ms("2026-11-27 10:00:00"), "duration": 1200, "realtime": 519, "%cpu": 98.5,
              "peak_rss": 31247565, "peak_vmem": 1073741824, "rchar": 912, "wchar": 0, "workdir": w1}},
            {{"task_id": 2, "hash": h2, "native_id": 102, "name": "SAY_HELLO (2)", "status": status,
              "exit": 1 if status == "FAILED" else 0, "submit": ms("2026-11-27 10:00:01"), "duration": 1000,
              "realtime": 1000, "%cpu": 100.0, "peak_rss": 1048576, "peak_vmem": 1048576, "rchar": 0, "wchar": 0, "workdir": w2}},
        ]
        for task in tasks:
            head = {{k: task[k] for k in ("task_id", "hash", "native_id", "name", "submit", "workdir")}}
            post("process_submitted", trace={{**head, "status": "SUBMITTED", "exit": 2147483647, "start": 0}})
            post("process_started", trace={{**head, "status": "RUNNING", "exit": 2147483647, "start": 0}})
            post("process_completed", trace=task)
        post("completed", metadata={{"workflow": {{**workflow, "success": status == "COMPLETED"}}}})
    sys.exit(1 if "--fail" in args else 0)
''')


def install_stand_in(bin_dir: Path) -> Path:
    """Write the stand-in as `bin_dir/nextflow`; returns `bin_dir` (put it first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "nextflow"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir
