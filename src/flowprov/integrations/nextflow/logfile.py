"""`.nextflow.log`: the session id, run name, script and the work directory of each task.

Lines used: `Session uuid:` (old) / `Session UUID:` (new), `Run name:`, ``Launching `main.nf`
[run_name]``, `[ab/cdef12] Submitted process > NAME` and
`Task completed > TaskHandler[...; name: NAME; ...; workDir: /full/path]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SESSION = re.compile(r"Session (?:uuid|UUID): ([0-9a-f-]{36})")
_RUN_NAME = re.compile(r"Run name: (\S+)")
_LAUNCH = re.compile(r"Launching `([^`]+)` \[([^\]]+)\](?: DSL\d)?(?: - revision: (\S+))?")
_SUBMITTED = re.compile(r"\[([0-9a-f]{2}/[0-9a-f]{6})\] Submitted process > (.+?)\s*$")
_COMPLETED = re.compile(r"Task completed > TaskHandler\[.*?name: (.+?); status: (\w+);.*?workDir: ([^\]]+?)\]")


@dataclass
class LogInfo:
    session_id: str | None = None
    run_name: str | None = None
    script: str | None = None
    revision: str | None = None
    submitted: dict[str, str] = field(default_factory=dict)  # short hash -> task name
    workdirs: dict[str, str] = field(default_factory=dict)  # task name -> work dir


def read_log(path: Path) -> LogInfo:
    info = LogInfo()
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", errors="replace")
            if info.session_id is None and (m := _SESSION.search(line)):
                info.session_id = m.group(1)
            elif info.run_name is None and (m := _RUN_NAME.search(line)):
                info.run_name = m.group(1)
            elif info.script is None and (m := _LAUNCH.search(line)):
                info.script, launch_name, info.revision = m.group(1), m.group(2), m.group(3)
                info.run_name = info.run_name or launch_name
            elif m := _SUBMITTED.search(line):
                info.submitted[m.group(1)] = m.group(2)
            elif m := _COMPLETED.search(line):
                info.workdirs[m.group(1)] = m.group(3).strip()
    return info
