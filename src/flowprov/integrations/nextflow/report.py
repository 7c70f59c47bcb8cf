"""The execution report (`-with-report`): run identity and every task's raw values.

The HTML names the run (`<title>[run_name] ...`), the session (`Workflow session`), the command,
the repository commit and the Nextflow version; `window.data` is a JavaScript object whose
`trace` list holds each task's fields as raw numbers (epoch ms, bytes). It is JavaScript, not
strict JSON (`\\'` escapes occur), and its task list is null above 10,000 tasks.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowprov.core.exceptions import FlowprovError


class ReportError(FlowprovError, ValueError):
    """An execution report that cannot be read."""


@dataclass
class Report:
    run_name: str | None = None
    session_id: str | None = None
    command: str | None = None
    commit: str | None = None
    script_id: str | None = None
    nextflow_version: str | None = None
    tasks: list[dict[str, Any]] | None = field(default=None, repr=False)


def _dd_after(label: str, text: str) -> str | None:
    match = re.search(rf"<dt[^>]*>\s*{re.escape(label)}\s*</dt>\s*<dd[^>]*>(.*?)</dd>", text, re.S)
    if not match:
        return None
    inner = re.sub(r"<[^>]+>", "", match.group(1))
    return html.unescape(inner).strip() or None


def _window_data(text: str, path: Path) -> dict[str, Any] | None:
    start = text.find("window.data = ")
    if start < 0:
        return None
    body = text[start + len("window.data = ") :]
    body = body.replace("\\'", "'")
    try:
        data, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: window.data is not readable: {exc.msg} at character {exc.pos}") from None
    return data if isinstance(data, dict) else None


def read_report(path: Path) -> Report:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: bytes that are not UTF-8 at offset {exc.start}") from None
    report = Report()
    title = re.search(r"<title>\s*\[([^\]]+)\]", text)
    report.run_name = title.group(1) if title else None
    report.session_id = _dd_after("Workflow session", text)
    report.script_id = _dd_after("Script ID", text)
    command = re.search(r'<pre class="nfcommand"><code>(.*?)</code></pre>', text, re.S)
    report.command = html.unescape(command.group(1)).strip() if command else None
    commit = re.search(r"commit hash <code>([0-9a-f]{40})</code>", text)
    report.commit = commit.group(1) if commit else None
    version = _dd_after("Nextflow version", text)
    if version:
        match = re.search(r"version ([0-9][0-9A-Za-z.\-]*)", version)
        report.nextflow_version = match.group(1) if match else version
    data = _window_data(text, path)
    if data:
        report.run_name = data.get("runName") or report.run_name
        report.session_id = data.get("sessionId") or report.session_id
        report.nextflow_version = data.get("nextflowVersion") or report.nextflow_version
        trace = data.get("trace")
        report.tasks = trace if isinstance(trace, list) else None
    return report
