"""Timing helpers shared by the benchmarks: medians over repeats, a plain-text table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def table(title: str, headers: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# Every aim of issue 22 that a suite measured: (goal, workload, aim, measured, met); run.py prints
# them as the suite's goals table after its sections.
GOALS: list[tuple[str, str, str, str, bool]] = []


def note_goal(goal: str, workload: str, measured: float, limit: float, unit: str = "") -> None:
    """Note a figure against its aim (lower is better); `unit` "" for ratios, else e.g. " ms"."""
    shown = f"{measured:.3f}" if not unit else f"{measured:.0f}{unit}"
    aim = f"<= {limit:g}{unit}"
    GOALS.append((goal, workload, aim, shown, measured <= limit))


def goals_table() -> str:
    rows = [[goal, workload, aim, shown, "met" if met else "**not met**"] for goal, workload, aim, shown, met in GOALS]
    title = "Goals (issue 22): flowprov / best peer or baseline, or an absolute time"
    return table(title, ["goal", "workload", "aim", "measured", ""], rows)
