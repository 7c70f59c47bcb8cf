"""`flowprov diff` on two real Prefect flow runs with different parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import set_prefect_test_env

set_prefect_test_env()
pytest.importorskip("prefect")

import flowprov as ln  # noqa: E402
from flowprov.integrations.prefect import tracked  # noqa: E402
from prefect import flow, task  # noqa: E402
from tests.diff.helpers import check_golden  # noqa: E402


@pytest.fixture(autouse=True)
def prefect_server(prefect_api):
    """The session's temporary Prefect server (tests/conftest.py)."""
    return prefect_api


@task
def scale(x: int, factor: int) -> int:
    return x * factor


@task
def write_report(path: str, value: int) -> str:
    Path(path).write_text(f"value\t{value}\n")
    ln.track_output(path)
    return path


@tracked
@flow
def report(out_dir: str, factor: int = 2, label: str = "demo") -> str:
    value = scale(10, factor)
    return write_report(f"{out_dir}/report.tsv", value)


def test_two_flow_runs_with_different_parameters(store, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    report(str(out), factor=2)
    report(str(out), factor=3, label="demo")
    a, b = ln.Run.filter(reference_type="prefect_flow_run_id").order_by("id").list()
    d = ln.diff(a.reference, b.reference)  # Prefect flow run ids
    data = d.to_dict()
    print(d.text())
    assert list(data["layers"]) == ["params", "files", "children"]
    assert data["layers"]["params"]["entries"] == [{"path": "factor", "change": "changed", "a": 2, "b": 3, "delta": 1}]
    files = data["layers"]["files"]
    # out_dir is an existing directory, so it is recorded as an input: it now holds the first report
    assert [(f["name"], f["change"]) for f in files["inputs"]] == [("out", "changed")]
    assert [(f["name"], f["change"]) for f in files["outputs"]] == [("out/report.tsv", "changed")]
    assert files["outputs"][0]["text_diff"] is None  # the second run overwrote the first report: no line diff
    children = d.to_dict(all=True)["layers"]["children"]
    steps = {e["name"]: e for e in children["entries"]}
    assert set(steps) == {"scale #1", "write_report #1"}  # Prefect's random task run suffixes matched by order
    # task runs carry their own parameters: the scale task got the new factor
    assert steps["scale #1"]["change"] == "changed" and "params" in steps["scale #1"]["differences"]
    assert "outputs" in steps["write_report #1"]["differences"]
    chains = [c["text"] for w in data["why"] for c in w["chains"]]
    assert chains and all(c.startswith("out/report.tsv changed ← write_report #1 re-ran") for c in chains), chains
    # the scale task's result (factor x 10) is write_report's own changed parameter
    assert "out/report.tsv changed ← write_report #1 re-ran ← param value: 20 → 30 (write_report #1)" in chains
    data["a"]["name"] = data["b"]["name"] = "<random flow run name>"
    check_golden("prefect_params", data, tmp_path)
