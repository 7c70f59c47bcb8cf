"""A real browser (Debian's chromium, driven by Playwright) against `flowprov ui` run as a command.

Opens the runs page, clicks into the Snakemake workflow run, opens its lineage and reads the graph
from cytoscape's own model; screenshots of each page go to tests/.artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowprov as ln
from tests.conftest import REPO
from tests.recorded_stores import GROUP
from tests.ui.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / ".artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")
# one worker builds the recorded stores once (tests/recorded_stores.py) for the UI and interop tests
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUP)]


@pytest.fixture(scope="module")
def server(recorded):
    """`flowprov ui` on a free port, as a user starts it; its base URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "flowprov"), "ui", "--db", recorded.url, "--port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"flowprov ui exited: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("flowprov ui did not start listening within 30 s")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install Debian's chromium (.ci/run does)")
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield instance
        instance.close()


def shoot(page, name: str, store: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{store}-{name}.png"), full_page=True)


def graph_model(page) -> tuple[dict[str, dict], set[tuple[str, str]]]:
    page.wait_for_function("window.flowprovGraph && window.flowprovGraph.nodes().length > 0", timeout=15000)
    nodes = page.evaluate(
        "window.flowprovGraph.nodes().map(n => ({id: n.id(), parent: n.data('parent') || null,"
        " kind: n.data('kind'), x: n.position('x'), y: n.position('y')}))"
    )
    edges = page.evaluate("window.flowprovGraph.edges().map(e => [e.source().id(), e.target().id()])")
    return {n["id"]: n for n in nodes}, {tuple(e) for e in edges}


def test_runs_to_workflow_run_to_lineage(server, browser, recorded, request):
    store = "sqlite" if recorded.url.startswith("sqlite") else "postgresql"
    ln.connect(recorded.url)
    workflow = ln.Run.get(recorded.snakemake)
    jobs = workflow.initiated_runs.all().list()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"failed: {req.url}"))

    page.goto(f"{server}/runs?reference_type=snakemake_workflow_id")
    shoot(page, "runs", store)
    page.goto(f"{server}/runs")
    assert page.locator("#runs-table tr.run-row").count() >= 4
    page.click(f'#runs-table a[href="/runs/{workflow.uid}"]')
    page.wait_for_url(f"**/runs/{workflow.uid}")
    assert page.locator("#child-runs tr.run-row").count() == len(jobs)
    assert page.locator("#gantt rect.bar").count() == len(jobs)
    shoot(page, "workflow-run", store)

    page.click("#lineage-link")
    page.wait_for_url(f"**/lineage/{workflow.uid}")
    nodes, edges = graph_model(page)
    assert {j.uid for j in jobs} | {workflow.uid} <= set(nodes)
    assert all(nodes[j.uid]["parent"] == workflow.uid for j in jobs)  # jobs inside their workflow
    for job in jobs:
        assert {(a.uid, job.uid) for a in job.input_artifacts.all()} <= edges
        assert {(job.uid, a.uid) for a in job.output_artifacts.all()} <= edges
    summary = next(j for j in jobs if j.name.startswith("summary"))
    counting = [j for j in jobs if j.name.startswith("count_words")]
    assert all(nodes[c.uid]["y"] < nodes[summary.uid]["y"] for c in counting)  # layered: inputs above
    shoot(page, "lineage", store)

    # click-through: the summary output's node opens the artifact page
    output = summary.output_artifacts.all().first()
    page.evaluate(f"void window.flowprovGraph.getElementById('{output.uid}').emit('tap')")
    page.wait_for_url(f"**/artifacts/{output.uid}")
    shoot(page, "artifact", store)

    page.goto(f"{server}/lineage/{recorded.nextflow}")
    big_nodes, _ = graph_model(page)
    assert any(n["kind"] == "step" for n in big_nodes.values()) and len(big_nodes) < 100
    shoot(page, "lineage-nextflow", store)
    page.goto(f"{server}/runs/{recorded.nextflow}")
    shoot(page, "nextflow-run", store)
    page.goto(f"{server}/transforms/{recorded.script_v2}")
    shoot(page, "transform", store)
    assert not errors, errors
    page.close()


def test_snakemake_output_to_the_nextflow_task_then_diff(server, browser, recorded):
    """The demo's click-through: a Snakemake output, the job that wrote it, the job's input and
    the Nextflow task that made that input; then the job's diff with the job before it."""
    store = "sqlite" if recorded.url.startswith("sqlite") else "postgresql"
    ln.connect(recorded.url)
    job = ln.Run.get(recorded.snakemake).initiated_runs.get(name="count_words (sample=ciao)")
    output = job.output_artifacts.get(path__endswith="results/ciao.count")
    [given] = job.input_artifacts.all().list()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{server}/artifacts/{output.uid}")
    page.click(f'a[href="/runs/{job.uid}"]')
    page.wait_for_url(f"**/runs/{job.uid}")
    page.click(f'a[href="/artifacts/{given.uid}"]')
    page.wait_for_url(f"**/artifacts/{given.uid}")
    page.click(f'a[href="/runs/{recorded.nextflow_task}"]')
    page.wait_for_url(f"**/runs/{recorded.nextflow_task}")
    assert "CONVERTTOUPPER (1)" in page.title()
    shoot(page, "nextflow-task", store)

    page.goto(f"{server}/runs/{job.uid}")
    page.click("#diff-link")
    page.wait_for_url(f"**/diff/{job.uid}")
    assert page.locator("#diff h4").count() >= 2  # one heading per changed layer
    assert "wildcards.sample" in page.locator("#diff").inner_text()
    shoot(page, "diff", store)
    assert not errors, errors
    page.close()


def test_workflow_runs_collapse_and_expand_in_the_browser(server, browser, recorded):
    """Right-clicking a workflow run folds its jobs into it (their edges re-pointed to it) and
    unfolds them again, without a reload; the buttons do the same for every workflow run."""
    store = "sqlite" if recorded.url.startswith("sqlite") else "postgresql"
    ln.connect(recorded.url)
    workflow = ln.Run.get(recorded.snakemake)
    jobs = {j.uid for j in workflow.initiated_runs.all()}
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/lineage/{workflow.uid}")
    nodes, edges = graph_model(page)
    assert jobs <= set(nodes)
    page.evaluate(f"void window.flowprovGraph.getElementById('{workflow.uid}').emit('cxttap')")
    folded, folded_edges = graph_model(page)
    assert not jobs & set(folded) and page.url.endswith(f"/lineage/{workflow.uid}")  # no navigation
    assert page.evaluate(f"window.flowprovGraph.getElementById('{workflow.uid}').data('collapsed')") is True
    outside = {(s if s not in jobs else workflow.uid, t if t not in jobs else workflow.uid) for s, t in edges}
    assert folded_edges == {(s, t) for s, t in outside if s != t}
    shoot(page, "lineage-collapsed", store)
    page.evaluate(f"void window.flowprovGraph.getElementById('{workflow.uid}').emit('cxttap')")
    unfolded, unfolded_edges = graph_model(page)
    assert set(unfolded) == set(nodes) and unfolded_edges == edges
    page.click("#collapse-all")
    assert not jobs & set(graph_model(page)[0])
    page.click("#expand-all")
    assert jobs <= set(graph_model(page)[0])
    page.close()
