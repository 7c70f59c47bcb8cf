"""The run page's Gantt chart of child runs: one row per step, one bar per run (retries side by side)."""

from __future__ import annotations

import datetime as dt
from typing import Any

ROW_HEIGHT = 22
LABEL_WIDTH = 180
CHART_WIDTH = 760
MAX_LANES = 8


def _time(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def gantt(children: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Bars in SVG user units for the child runs that have a start time (None when none has)."""
    timed: list[tuple[dict[str, Any], dt.datetime, dt.datetime]] = []
    for child in children:
        started = _time(child["started_at"])
        if started is not None:
            timed.append((child, started, _time(child["finished_at"]) or started))
    if not timed:
        return None
    start = min(s for _, s, _ in timed)
    end = max(f for _, _, f in timed)
    span = max((end - start).total_seconds(), 1e-3)
    steps: dict[str, list[dict[str, Any]]] = {}
    for child, started, finished in sorted(timed, key=lambda t: t[1]):
        step = (child["transform"] or "").rsplit("#", 1)[-1]
        x = (started - start).total_seconds() / span * CHART_WIDTH
        width = max((finished - started).total_seconds() / span * CHART_WIDTH, 2.0)
        steps.setdefault(step, []).append(
            {
                "x": round(LABEL_WIDTH + x, 1),
                "width": round(width, 1),
                "end": round(LABEL_WIDTH + x + width, 1),
                "status": child["status"],
                "uid": child["uid"],
                "title": f"{child['name'] or step}: {child['status']}, {(finished - started).total_seconds():.1f} s",
            }
        )
    rows = [row for step, bars in steps.items() for row in _lanes(step, bars)]
    for i, row in enumerate(rows):
        row["y"] = i * ROW_HEIGHT
    return {
        "rows": rows,
        "height": len(rows) * ROW_HEIGHT + 24,
        "width": LABEL_WIDTH + CHART_WIDTH + 10,
        "label_width": LABEL_WIDTH,
        "seconds": round(span, 1),
        "start": start.isoformat()[:19].replace("T", " "),
    }


def _lanes(step: str, bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for one step: runs that overlap in time (parallel jobs, a retry) go to separate lanes,
    at most MAX_LANES (then bars overlap); only the first lane shows the step's name."""
    lanes: list[list[dict[str, Any]]] = []
    for bar in bars:  # sorted by start
        free = next((lane for lane in lanes if lane[-1]["end"] <= bar["x"]), None)
        if free is None and len(lanes) < MAX_LANES:
            lanes.append(free := [])
        (free if free is not None else min(lanes, key=lambda lane: lane[-1]["end"])).append(bar)
    return [{"step": step if i == 0 else "", "bars": lane} for i, lane in enumerate(lanes)]
