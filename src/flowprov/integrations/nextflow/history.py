"""`.nextflow/history`: one tab-separated line per launch, no header.

Columns: timestamp (local time), duration (`-` while running or when never updated), run name,
status (`OK`, `ERR` or `-`), revision (40-hex git commit, or the 32-hex md5 of a local script),
session UUID, command line.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from flowprov.core.exceptions import FlowprovError


class HistoryError(FlowprovError, ValueError):
    """A history file that cannot be read; names the file and line."""


@dataclass(frozen=True)
class HistoryEntry:
    line: int
    timestamp: dt.datetime  # naive local time, as written
    duration: str | None
    run_name: str
    status: str | None  # OK, ERR, or None for '-'
    revision: str | None
    session_id: str
    command: str

    @property
    def pipeline(self) -> str | None:
        """What was run: `nf-core/rnaseq`, `main.nf`, ... (the first argument after `run`)."""
        return pipeline_from_command(self.command)


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# nextflow run options that take a value (so their value is not the pipeline)
_VALUE_OPTIONS = {
    "-c",
    "-config",
    "-C",
    "-profile",
    "-r",
    "-revision",
    "-w",
    "-work-dir",
    "-bucket-dir",
    "-name",
    "-params-file",
    "-with-trace",
    "-with-report",
    "-with-timeline",
    "-with-dag",
    "-with-tower",
    "-with-weblog",
    "-hub",
    "-user",
    "-qs",
    "-queue-size",
    "-e.",
    "-entry",
    "-main-script",
    "-latest",
    "-N",
    "-with-notification",
    "-log",
    "-ansi-log",
    "-with-docker",
    "-with-singularity",
    "-with-conda",
    "-with-apptainer",
    "-with-podman",
    "-with-charliecloud",
    "-with-spack",
    "-process.",
    "-cache",
    "-dump-hashes",
    "-offline",
    "-plugins",
    "-stub-run",
    "-preview",
}
_FLAG_OPTIONS = {
    "-resume",
    "-with-tower",
    "-with-trace",
    "-with-report",
    "-with-timeline",
    "-with-dag",
    "-bg",
    "-q",
    "-quiet",
    "-latest",
    "-offline",
    "-stub-run",
    "-stub",
    "-preview",
    "-dsl1",
    "-dsl2",
}


def pipeline_from_command(command: str) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if words and (words[0].endswith("nextflow") or (len(words) > 1 and words[1] == "run" and words[0][0] != "-")):
        words = words[1:]  # the launcher, however it is called (`nextflow`, `./launch.sh`)
    while words and words[0].startswith("-") and not words[0].startswith("--"):  # launcher options
        words = words[1:]
    if words and words[0] == "run":
        words = words[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            i += 1 if "=" in word or i + 1 >= len(words) or words[i + 1].startswith("-") else 2
            continue
        if word.startswith("-"):
            takes_value = word in _VALUE_OPTIONS and word not in _FLAG_OPTIONS
            i += 2 if takes_value and i + 1 < len(words) and not words[i + 1].startswith("-") else 1
            continue
        return word
    return None


def read_history(path: Path) -> list[HistoryEntry]:
    entries = []
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path}: bytes that are not UTF-8 at offset {exc.start}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 7:
            raise HistoryError(f"{path}:{number}: {len(parts)} tab-separated columns, a history line has 7")
        stamp, duration, run_name, status, revision, session, command = (
            parts[0],
            parts[1],
            parts[2],
            parts[3],
            parts[4],
            parts[5],
            "\t".join(parts[6:]),
        )
        try:
            when = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise HistoryError(f"{path}:{number}: field 'timestamp': cannot parse {stamp!r}") from None
        if not _UUID.match(session):
            raise HistoryError(f"{path}:{number}: field 'session': {session!r} is not a UUID")
        entries.append(
            HistoryEntry(
                number,
                when,
                None if duration == "-" else duration,
                run_name,
                None if status == "-" else status,
                None if revision == "-" else revision,
                session,
                command,
            )
        )
    return entries
