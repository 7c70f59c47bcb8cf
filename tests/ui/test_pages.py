"""Every page and API route of `flowprov ui` on both stores, with data the real adapters recorded."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import flowprov as ln
from tests.ui.conftest import XSS

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from flowprov.ui.app import create_app  # noqa: E402
from flowprov.ui.queries import MAX_CHILD_ROWS  # noqa: E402
from tests.recorded_stores import GROUP

# one worker builds the recorded stores once (tests/recorded_stores.py) for the UI and interop tests
pytestmark = pytest.mark.xdist_group(GROUP)


@pytest.fixture(scope="module")
def client(recorded):
    app = create_app(recorded.url)
    with TestClient(app) as test_client:
        yield test_client
    app.state.store.dispose()


def run_uids(html: str) -> list[str]:
    """The run uids linked from the rows of the page's runs table, in order."""
    table = html.split('id="runs-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr class="run-row"><td><a href="/runs/([0-9A-Za-z]{16})"', table)


def test_runs_page_lists_every_workflow_run_newest_first(client, recorded):
    response = client.get("/runs?per_page=500")
    assert response.status_code == 200
    shown = run_uids(response.text)
    assert {recorded.snakemake, recorded.prefect, recorded.nextflow, recorded.xss} <= set(shown)
    ln.connect(recorded.url)
    assert shown == [r.uid for r in ln.Run.filter().order_by("-started_at", "-id")[:500]]
    assert 'class="status bad"' in response.text and 'class="status ok"' in response.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("reference_type=snakemake_workflow_id", {"reference_type": "snakemake_workflow_id"}),
        ("status=errored", {"status": "errored"}),
        (
            "reference_type=nextflow_task_hash&status=errored",
            {"reference_type": "nextflow_task_hash", "status": "errored"},
        ),
        ("transform__key__startswith=singlecellopenproblems", {"transform__key__startswith": "singlecellopenproblems"}),
        ("aux__attempt__gt=1", {"aux__attempt__gt": 1}),
        (
            "reference_type__in=prefect_flow_run_id,snakemake_workflow_id",
            {"reference_type__in": ["prefect_flow_run_id", "snakemake_workflow_id"]},
        ),
    ],
)
def test_filters_are_the_python_apis_lookups(client, recorded, query, expected):
    ln.connect(recorded.url)
    wanted = [r.uid for r in ln.Run.filter(**expected).order_by("-started_at", "-id")[:500]]
    assert wanted, "the recorded data has runs for every filter"
    page = client.get(f"/runs?{query}&per_page=500")
    assert page.status_code == 200 and run_uids(page.text) == wanted
    api = client.get(f"/api/runs?{query}&per_page=500")
    assert [row["uid"] for row in api.json()] == wanted


def test_params_filter_and_search(client, recorded):
    ln.connect(recorded.url)
    assert run_uids(client.get("/runs?params__min_length__gte=1").text) == [
        r.uid for r in ln.Run.filter(params__min_length__gte=1).order_by("-started_at", "-id")
    ]
    found = run_uids(client.get("/runs?q=loving_blackwell").text)
    assert found[0] == recorded.nextflow
    assert run_uids(client.get("/runs?q=count_words&reference_type=snakemake_job_id").text)
    launch = ln.Run.get(recorded.nextflow)
    assert run_uids(client.get(f"/runs?q={launch.reference}").text) == [launch.uid]  # by reference, exactly
    assert recorded.nextflow in run_uids(client.get("/runs?q=lovng_blackwell").text)  # a typo: ranked search


def test_bad_filters_are_one_clear_error(client):
    response = client.get("/runs?no_such_field=1")
    assert response.status_code == 400 and "no_such_field" in response.text
    assert client.get("/runs?sort=password").status_code == 400
    assert client.get("/runs?page=0").status_code == 400
    assert client.get("/api/runs?no_such_field=1").json()["error"].count("no_such_field") >= 1


def test_sorting_and_pages(client, recorded):
    first = client.get("/runs?per_page=20")
    second = client.get("/runs?per_page=20&page=2")
    assert 'rel="next"' in first.text and 'rel="prev"' in second.text
    assert len(run_uids(first.text)) == 20 and not set(run_uids(first.text)) & set(run_uids(second.text))
    by_reference = run_uids(client.get("/runs?sort=reference&reference_type=snakemake_job_id").text)
    ln.connect(recorded.url)
    wanted = ln.Run.filter(reference_type="snakemake_job_id").order_by("reference", "id")
    assert by_reference == [r.uid for r in wanted]
    assert client.get("/runs?sort=name").status_code == 400  # not indexed: too slow on a big store


def test_workflow_run_pages(client, recorded):
    ln.connect(recorded.url)
    for uid in (recorded.snakemake, recorded.prefect, recorded.nextflow):
        run = ln.Run.get(uid)
        html = client.get(f"/runs/{uid}").text
        assert f"/transforms/{run.transform.uid}" in html and f'href="/lineage/{uid}"' in html
        children = run.initiated_runs.all().order_by("id").list()
        listed = children[:MAX_CHILD_ROWS]  # a big launch lists its first ones and links to all
        assert listed and all(f"/runs/{c.uid}" in html for c in listed)
        bars = html.count('<rect class="bar')
        assert '<svg id="gantt"' in html and bars == len([c for c in listed if c.started_at])
        if len(children) > MAX_CHILD_ROWS:
            assert f"the first {MAX_CHILD_ROWS} of {len(children)}" in html
            assert f"/runs?initiated_by_run__uid={uid}" in html
    nextflow = client.get(f"/runs/{recorded.nextflow}").text
    assert 'rect class="bar bad"' in nextflow  # failed tasks in red, retries beside them


def test_job_page_shows_files_with_sizes_and_hashes(client, recorded):
    ln.connect(recorded.url)
    job = ln.Run.filter(reference_type="snakemake_job_id", name__startswith="summary").first()
    html = client.get(f"/runs/{job.uid}").text
    for artifact in [*job.input_artifacts.all(), *job.output_artifacts.all()]:
        assert f"/artifacts/{artifact.uid}" in html and artifact.hash in html
    assert "min_length" not in html or "params" in html.lower()
    script = ln.Run.filter(reference_type="prefect_flow_run_id").first()
    if script.environment_id:
        assert "packages)" in client.get(f"/runs/{script.uid}").text


def test_artifact_page(client, recorded):
    ln.connect(recorded.url)
    summary = ln.Artifact.filter(path__endswith="results/summary.tsv").first()
    counts = ln.Artifact.filter(path__endswith=".count").first()
    html = client.get(f"/artifacts/{counts.uid}").text
    assert f"/runs/{counts.run.uid}" in html  # written by the count_words job
    assert all(f"/runs/{r.uid}" in html for r in counts.input_of_runs.all())  # read by summary
    assert counts.hash in html and summary.uid not in html
    data = client.get(f"/api/artifacts/{counts.uid}").json()
    assert data["run"]["uid"] == counts.run.uid and data["versions"][0]["uid"] == counts.uid


def test_transform_versions_and_source_diff(client, recorded):
    html = client.get(f"/transforms/{recorded.script_v2}").text
    assert recorded.script_v1 in html and "+x = 2" in html and "-x = 1" in html and "+print(&#39;done&#39;)" in html
    data = client.get(f"/api/transforms/{recorded.script_v1}?compare={recorded.script_v2}").json()
    assert data["compared_with"] == recorded.script_v2 and "-print('done')" in data["source_diff"]
    assert client.get("/transforms").status_code == 200 and client.get("/api/transforms").json()


def _graph(client, uid: str, query: str = "") -> tuple[set[str], set[tuple[str, str]], dict]:
    data = client.get(f"/api/lineage/{uid}?{query}").json()
    nodes = {n["data"]["id"] for n in data["nodes"]}
    edges = {(e["data"]["source"], e["data"]["target"]) for e in data["edges"]}
    assert {x for e in edges for x in e} <= nodes
    return nodes, edges, data


def test_lineage_of_a_snakemake_workflow(client, recorded):
    ln.connect(recorded.url)
    run = ln.Run.get(recorded.snakemake)
    nodes, edges, data = _graph(client, run.uid)
    jobs = run.initiated_runs.all().list()
    assert {j.uid for j in jobs} | {run.uid} <= nodes
    parents = {n["data"]["id"]: n["data"].get("parent") for n in data["nodes"]}
    assert all(parents[j.uid] == run.uid for j in jobs)  # jobs drawn inside their workflow run
    for job in jobs:
        assert {(a.uid, job.uid) for a in job.input_artifacts.all()} <= edges
        assert {(job.uid, a.uid) for a in job.output_artifacts.all()} <= edges
    collapsed, collapsed_edges, _ = _graph(client, run.uid, "group=workflow")
    assert not {j.uid for j in jobs} & collapsed and run.uid in collapsed and collapsed_edges
    html = client.get(f"/lineage/{run.uid}")
    assert html.status_code == 200 and 'id="graph-data"' in html.text


def test_lineage_of_a_file_upstream_and_downstream(client, recorded):
    ln.connect(recorded.url)
    summary = ln.Artifact.filter(path__endswith="results/summary.tsv").first()
    nodes, edges, _ = _graph(client, summary.uid, "depth=2")
    counts = ln.Artifact.filter(path__endswith=".count").list()
    assert {a.uid for a in counts} <= nodes and (summary.run.uid, summary.uid) in edges
    assert all(a.run.uid in nodes for a in counts)  # depth 2 reaches the count_words jobs
    one = counts[0]
    down, down_edges, _ = _graph(client, one.uid, "direction=downstream&depth=1")
    assert summary.uid in down and (one.uid, summary.run.uid) in down_edges
    shallow, _, _ = _graph(client, summary.uid, "depth=1")
    assert not {a.run.uid for a in counts} & shallow


def test_large_lineage_collapses_by_step(client, recorded):
    ln.connect(recorded.url)
    launch = ln.Run.get(recorded.nextflow)
    nodes, _, data = _graph(client, launch.uid)
    steps = {t.key for t in ln.Transform.filter(key__startswith=launch.transform.key + "#")}
    assert data["collapsed"] and len(nodes) < 3 * len(steps) + 10
    step_nodes = [n["data"] for n in data["nodes"] if n["data"]["kind"] == "step"]
    assert sum(n["count"] for n in step_nodes) == launch.initiated_runs.count()
    assert any(n["status"] == "errored" for n in step_nodes)
    every, _, full = _graph(client, launch.uid, "group=none")
    assert not full["collapsed"] and {r.uid for r in launch.initiated_runs.all()} <= every


def test_lineage_svg_fallback(client, recorded):
    response = client.get(f"/lineage/{recorded.snakemake}.svg")
    if shutil.which("dot") is None:
        assert response.status_code == 404
        return
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in response.content and b"count_words" in response.content


def test_api_mirrors_the_clis_json(client, recorded):
    from typer.testing import CliRunner

    from flowprov.cli import app

    cli = CliRunner()
    shown = json.loads(cli.invoke(app, ["show", recorded.snakemake, "--json", "--db", recorded.url]).stdout)
    api = client.get(f"/api/runs/{recorded.snakemake}").json()
    assert {k: api[k] for k in shown} == json.loads(json.dumps(shown))
    listed = json.loads(cli.invoke(app, ["runs", "--json", "--db", recorded.url, "--status", "errored"]).stdout)
    assert client.get("/api/runs?status=errored").json() == listed


def test_every_value_is_escaped(client, recorded):
    for path in (
        "/runs",
        f"/runs/{recorded.xss}",
        f"/transforms/{recorded.script_v2}",
        f"/lineage/{recorded.xss}",
        "/runs?q=alert",
        f"/diff/{recorded.script_run_v1}/{recorded.xss}?all=1",
    ):
        html = client.get(path).text
        # the only forms allowed: HTML-escaped text, and JSON-escaped inside the graph's data block
        rest = html.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "").replace(
            "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e", ""
        )
        assert "alert(1)" not in rest, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/runs/{recorded.xss}").text
    page = client.get(f"/runs/{recorded.xss}")
    assert (
        "script-src" not in page.headers["content-security-policy"]
        and "default-src 'self'" in page.headers["content-security-policy"]
    )
    assert client.get(f"/api/runs/{recorded.xss}").json()["name"] == XSS  # JSON carries the value itself


def test_missing_records_and_static_files(client):
    assert client.get("/runs/zzzzzzzzzzzzzzzz").status_code == 404
    assert client.get("/api/runs/zzzzzzzzzzzzzzzz").json()["error"]
    assert client.get("/artifacts/zzzzzzzzzzzzzzzzzzzz").status_code == 404
    assert client.get("/lineage/zzzz").status_code == 404
    assert client.get("/static/vendor/cytoscape.min.js").status_code == 200
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/static/%2e%2e/app.py").status_code == 404
    assert client.get("/static/../app.py").status_code == 404


def _sqlite_file(url: str) -> Path | None:
    sa = make_url(url)
    return Path(sa.database) if sa.get_backend_name() == "sqlite" else None


def test_read_only(client, recorded):
    db_file = _sqlite_file(recorded.url)
    before = hashlib.sha256(db_file.read_bytes()).hexdigest() if db_file else None
    for method in ("post", "put", "delete", "patch"):
        for path in ("/runs", f"/runs/{recorded.snakemake}", "/api/runs", f"/api/runs/{recorded.snakemake}"):
            response = getattr(client, method)(path)
            assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    for path in (
        "/runs",
        f"/runs/{recorded.nextflow}",
        f"/lineage/{recorded.nextflow}",
        f"/transforms/{recorded.script_v1}",
    ):
        assert client.get(path).status_code == 200
    store = client.app.state.store
    transform = ln.Transform.using(store).get(recorded.script_v1)
    with pytest.raises(Exception, match="(?i)read-only|readonly"):
        ln.Run(transform, name="sneaky").save(using=store)
    if db_file:
        assert hashlib.sha256(db_file.read_bytes()).hexdigest() == before
    ln.connect(recorded.url)
    assert not ln.Run.filter(name="sneaky").exists()


def test_diff_page_is_flowprov_diffs_rendering(client, recorded):
    """The run page links to the diff with the run before it; the diff page is `flowprov diff
    A B` rendered by flowprov.diff's own HTML (every layer with ?all=1) and its JSON under /api."""
    import flowprov
    from flowprov.diff.render import render_html

    first, second = recorded.script_run_v1, recorded.xss
    assert f'href="/diff/{second}" id="diff-link"' in client.get(f"/runs/{second}").text
    none_before = client.get(f"/diff/{first}")
    assert none_before.status_code == 404 and "has no earlier run to compare with" in none_before.text
    ln.connect(recorded.url)
    for query, show_all in (("", False), ("?all=1", True)):
        expected = flowprov.diff(first, second).to_dict(all=show_all)
        page = client.get(f"/diff/{first}/{second}{query}")
        assert page.status_code == 200 and render_html(expected) in page.text
        assert client.get(f"/api/diff/{first}/{second}{query}").json() == json.loads(json.dumps(expected))
    every = client.get(f"/diff/{first}/{second}?all=1").text
    for title in ("Transform", "Params", "Environment", "Inputs and outputs", "Steps", "Run facts"):
        assert f"<h4>{title}</h4>" in every
    assert "+x = 2" in every and "note: first → &lt;script&gt;alert(1)&lt;/script&gt;" in every
    assert client.get(f"/diff/{second}").text == client.get(f"/diff/{first}/{second}").text  # B = the one before


def test_diff_of_two_snakemake_jobs_and_missing_runs(client, recorded):
    ln.connect(recorded.url)
    workflow = ln.Run.get(recorded.snakemake)
    ciao = workflow.initiated_runs.get(name="count_words (sample=ciao)")
    assert f'href="/diff/{ciao.uid}" id="diff-link"' in client.get(f"/runs/{ciao.uid}").text
    data = client.get(f"/api/diff/{ciao.uid}").json()  # the job against the job of its step before it
    before = ln.Run.get(data["a"]["uid"])
    assert data["b"]["uid"] == ciao.uid and before.transform_id == ciao.transform_id and before.uid != ciao.uid
    params = {e["path"]: (e["a"], e["b"]) for e in data["layers"]["params"]["entries"]}
    assert params["wildcards.sample"][1] == "ciao"
    assert client.get(f"/diff/{before.uid}/{ciao.uid}").status_code == 200
    assert client.get("/diff/zzzzzzzzzzzzzzzz/yyyyyyyyyyyyyyyy").status_code == 404
    assert client.get("/api/diff/zzzzzzzzzzzzzzzz").json()["error"]


def test_a_snakemake_input_leads_to_the_nextflow_task_that_made_it(client, recorded):
    """The demo's path: a Snakemake output, its job, the job's input, the Nextflow task."""
    ln.connect(recorded.url)
    workflow = ln.Run.get(recorded.snakemake)
    job = workflow.initiated_runs.get(name="count_words (sample=ciao)")
    output = job.output_artifacts.get(path__endswith="results/ciao.count")
    [given] = job.input_artifacts.all().list()
    assert f"/runs/{job.uid}" in client.get(f"/artifacts/{output.uid}").text
    assert f"/artifacts/{given.uid}" in client.get(f"/runs/{job.uid}").text
    written_by = client.get(f"/artifacts/{given.uid}").text.split("written by", 1)[1].split("</tr>", 1)[0]
    assert f'href="/runs/{recorded.nextflow_task}"' in written_by
    assert ln.Run.get(recorded.nextflow_task).name == "CONVERTTOUPPER (1)"
    _, edges, _ = _graph(client, output.uid, "depth=3")
    assert {(recorded.nextflow_task, given.uid), (given.uid, job.uid), (job.uid, output.uid)} <= edges
