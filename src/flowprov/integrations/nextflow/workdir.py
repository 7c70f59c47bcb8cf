"""What a task's work directory and the launch's cache index tell about its files.

Work directory (`work/ab/cdef1234...`): `.command.sh` is the task's script as run; the
`nxf_stage()` block of `.command.run` stages each input with `ln -s SRC NAME` or `cp ... SRC NAME`
(SRC in another task's work dir links the two tasks); `.exitcode`; `.command.trace`
(`nextflow.trace/v2`: `%cpu` and `%mem` times 10, memory in KB); every other entry at the top is
something the task wrote.

Cache index (`.nextflow/cache/<session>/index.<runName>`): 17-byte records, a 16-byte full task
hash and a 1-byte cached flag, one per task of the launch: it turns the trace's `ab/cdef12` into
the full 32-hex hash when no work dir is at hand.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NEXTFLOW_FILES = {
    ".command.sh",
    ".command.run",
    ".command.out",
    ".command.err",
    ".command.log",
    ".command.begin",
    ".command.trace",
    ".command.env",
    ".command.infile",
    ".exitcode",
    ".command.stub",
}
MAX_SCRIPT = 64 * 1024
_TRACE_V2 = {
    "realtime": ("realtime_ms", 1),
    "%cpu": ("cpu_percent", 0.1),
    "%mem": ("mem_percent", 0.1),
    "rchar": ("rchar_bytes", 1),
    "wchar": ("wchar_bytes", 1),
    "syscr": ("syscr", 1),
    "syscw": ("syscw", 1),
    "read_bytes": ("read_bytes", 1),
    "write_bytes": ("write_bytes", 1),
    "vmem": ("vmem_bytes", 1024),
    "rss": ("rss_bytes", 1024),
    "peak_vmem": ("peak_vmem_bytes", 1024),
    "peak_rss": ("peak_rss_bytes", 1024),
    "vol_ctxt": ("vol_ctxt", 1),
    "inv_ctxt": ("inv_ctxt", 1),
}


@dataclass
class WorkDir:
    path: Path
    script: str | None = None
    staged: list[tuple[str, str]] = field(default_factory=list)  # (source path, name in the work dir)
    outputs: list[Path] = field(default_factory=list)
    exit_code: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


_WORK_DIR_HASH = re.compile(r"(?:^|/)([0-9a-f]{2})/([0-9a-f]{30})/*$")


def full_hash_of(path: str | Path) -> str | None:
    """The 32-hex task hash of a work dir path (`.../ab/<30 hex>`), else None."""
    match = _WORK_DIR_HASH.search(str(path))
    return match[1] + match[2] if match else None


def _staging_lines(command_run: str) -> list[str]:
    match = re.search(r"nxf_stage\(\)\s*\{(.*?)\n\}", command_run, re.S)
    return match.group(1).splitlines() if match else []


def read_work_dir(path: Path) -> WorkDir:
    info = WorkDir(path=path)
    script = path / ".command.sh"
    if script.is_file():
        text = script.read_text(errors="replace")
        info.script = text[:MAX_SCRIPT]
    run = path / ".command.run"
    staged_names: set[str] = set()
    if run.is_file():
        for line in _staging_lines(run.read_text(errors="replace")):
            line = line.strip()
            if not (line.startswith("ln -s ") or line.startswith("cp ") or line.startswith("rsync ")):
                continue
            try:
                words = [w for w in shlex.split(line) if not w.startswith("-")]
            except ValueError:
                continue
            if len(words) >= 3:
                src, name = words[-2], words[-1]
                info.staged.append((src, name))
                staged_names.add(name.split("/")[0])
    exitcode = path / ".exitcode"
    if exitcode.is_file():
        text = exitcode.read_text().strip()
        info.exit_code = int(text) if text.lstrip("-").isdigit() else None
    trace = path / ".command.trace"
    if trace.is_file():
        lines = trace.read_text(errors="replace").splitlines()
        if lines and lines[0].strip() == "nextflow.trace/v2":
            for line in lines[1:]:
                if "=" in line:
                    key, _, value = line.partition("=")
                    if key in _TRACE_V2 and value.strip().lstrip("-").isdigit():
                        name, factor = _TRACE_V2[key]
                        scaled = int(value) * factor
                        info.metrics[name] = round(scaled, 1) if factor < 1 else scaled
    for entry in sorted(path.iterdir()):
        if entry.name in NEXTFLOW_FILES or entry.name in staged_names or entry.is_symlink():
            continue
        if entry.is_file() or entry.is_dir():
            info.outputs.append(entry)
    return info


def read_cache_index(path: Path) -> dict[str, tuple[str, bool]]:
    """short hash (`ab/cdef12`) -> (full 32-hex hash, cached flag) from a binary cache index."""
    data = Path(path).read_bytes()
    if len(data) % 17:
        raise ValueError(f"{path}: {len(data)} bytes is not a whole number of 17-byte cache index records")
    out: dict[str, tuple[str, bool]] = {}
    for i in range(0, len(data), 17):
        full = data[i : i + 16].hex()
        out[f"{full[:2]}/{full[2:8]}"] = (full, data[i + 16] != 0)
    return out


def find_work_dir(
    record_workdir: str | None, short_hash: str | None, full_hash: str | None, work_root: Path | None
) -> Path | None:
    """The task's work dir on this machine: the trace's `workdir`, else under `--work-dir`."""
    if record_workdir and "://" not in record_workdir and os.path.isdir(record_workdir):
        return Path(record_workdir)
    if work_root is None or not short_hash:
        return None
    if full_hash:
        candidate = work_root / full_hash[:2] / full_hash[2:]
        return candidate if candidate.is_dir() else None
    prefix, rest = short_hash.split("/")
    matches = list((work_root / prefix).glob(rest + "*")) if (work_root / prefix).is_dir() else []
    return matches[0] if len(matches) == 1 else None
