"""Import: round trips for every format and adapter, fixtures written by other tools, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowprov as ln
from flowprov.interop import export, import_
from flowprov.interop.importing import InteropError
from tests.conftest import REPO, drop_pg_schema, new_pg_schema_url
from tests.interop.conftest import ADAPTERS
from tests.recorded_stores import GROUP

# one worker builds the recorded stores once (tests/recorded_stores.py) for the UI and interop tests
pytestmark = pytest.mark.xdist_group(GROUP)

FORMATS = {"openlineage": "jsonl", "ro-crate": "crate", "prov-json": "json", "prov-n": "provn", "prov-jsonld": "jsonld"}
AIRFLOW = sorted((REPO / "tests" / "data" / "openlineage" / "compat" / "airflow").glob("*.json"))


def _document(result: str | Path, fmt: str) -> str:
    return (Path(result) / "ro-crate-metadata.json").read_text() if fmt == "ro-crate" else str(result)


@pytest.fixture
def fresh_urls(recorded, tmp_path):
    """Empty stores of the same kind as the recorded one, one per format."""
    url, _ = recorded
    if url.startswith("sqlite"):
        yield {fmt: f"sqlite:///{tmp_path / f'fresh-{fmt}.db'}" for fmt in FORMATS}
        return
    made = {fmt: new_pg_schema_url() for fmt in FORMATS}
    try:
        yield {fmt: fresh for fmt, (_, fresh) in made.items()}
    finally:
        from flowprov.core.store.connection import disconnect_all

        disconnect_all()
        for schema, _ in made.values():
            drop_pg_schema(schema)


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_export_import_export_gives_the_same_document(recorded, fresh_urls, adapter, tmp_path):
    url, runs = recorded
    for fmt, ext in FORMATS.items():
        ln.connect(url)
        n_runs = 1 + ln.Run.get(runs[adapter]).initiated_runs.count()
        first = export(runs[adapter], fmt, tmp_path / f"first-{fmt}.{ext}")
        ln.connect(fresh_urls[fmt])
        imported = import_(tmp_path / f"first-{fmt}.{ext}")
        assert len(imported) == n_runs and ln.Run.filter().count() == n_runs
        counts = (ln.Run.filter().count(), ln.Artifact.filter().count(), ln.Transform.filter().count())
        import_(tmp_path / f"first-{fmt}.{ext}")  # importing twice changes nothing
        assert (ln.Run.filter().count(), ln.Artifact.filter().count(), ln.Transform.filter().count()) == counts
        [top] = [r for r in imported if r.initiated_by_run_id is None]
        assert top.reference_type in ("openlineage_run_id", "ro_crate_action", "prov_activity")
        again = export(top, fmt, tmp_path / f"again-{fmt}.{ext}")
        if _document(again, fmt) != _document(first, fmt):
            import difflib

            diff = difflib.unified_diff(_document(first, fmt).splitlines(), _document(again, fmt).splitlines(), n=1)
            pytest.fail(f"{fmt}: the re-exported document differs:\n" + "\n".join(list(diff)[:60]))


def test_openlineage_events_of_airflow_from_the_compatibility_tests(store):
    runs = import_(*AIRFLOW)
    assert len(runs) == 16  # 3 DAG runs and their 13 task runs
    tops = [r for r in runs if r.initiated_by_run_id is None]
    assert sorted(r.transform.key for r in tops) == ["BQ", "dag", "gcs_hook"]
    upload = ln.Run.get(transform__key="BQ#upload")
    assert upload.status == "completed" and upload.initiated_by_run.transform.key == "BQ"
    assert sorted(a.uri for a in upload.input_artifacts.all()) == [
        "gs://mock-bucket/copied.csv",
        "gs://mock-bucket/test.csv",
    ]
    assert [a.uri for a in upload.output_artifacts.all()] == ["bigquery://mock-project.test.upload"]
    assert tops[0].aux["engine"]["name"] == "Airflow"
    before = (ln.Run.filter().count(), ln.Artifact.filter().count())
    import_(*AIRFLOW)
    assert (ln.Run.filter().count(), ln.Artifact.filter().count()) == before


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "events.jsonl",
            '{"eventTime": "2024-01-01T00:00:00Z", "eventType": "START", "run": {"runId": "r1"}, "job": {"namespace": "n", "name": "j"}}\n'
            '{"eventType": "COMPLETE", "run": {"runId": "r1"}, "job": {"namespace": "n", "name": "j"}}\n',
            "events.jsonl:2: element 'eventTime' is missing",
        ),
        (
            "events.jsonl",
            '{"eventTime": "2024-01-01T00:00:00Z", "eventType": "START", "run": {"runId": "r1"}, "job": {"namespace": "n", "name": "j"}}\n'
            '{"eventTime": \n',
            "events.jsonl:2: not valid JSON",
        ),
        (
            "doc.json",
            json.dumps(
                {"prefix": {"ex": "http://example.org/"}, "activity": {"ex:a": {"prov:endTime": "2024-01-01T00:00:00"}}}
            ),
            "doc.json: activity ex:a: element 'prov:startTime' is missing",
        ),
    ],
)
def test_a_bad_file_is_refused_with_one_line_and_nothing_written(store, tmp_path, name, content, message):
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"eventTime": "2024-01-01T00:00:00Z", "eventType": "START", "run": {"runId": "r0"}, "job": {"namespace": "n", "name": "ok"}}\n'
    )
    bad = tmp_path / name
    bad.write_text(content)
    with pytest.raises(InteropError) as err:
        import_(good, bad)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert ln.Run.filter().count() == 0


def test_a_crate_without_actions_or_metadata(store, tmp_path):
    crate = tmp_path / "crate"
    crate.mkdir()
    with pytest.raises(InteropError, match="no ro-crate-metadata.json"):
        import_(crate)
    (crate / "ro-crate-metadata.json").write_text(
        '{"@context": "x", "@graph": [{"@id": "#a", "@type": "CreateAction"}]}'
    )
    with pytest.raises(InteropError, match=r"entity #a: element 'startTime' is missing"):
        import_(crate)
    assert ln.Run.filter().count() == 0


def test_cli_export_and_import(store_url, tmp_path):
    import subprocess
    import sys

    ln.connect(store_url)
    import_(*AIRFLOW)
    top = ln.Run.get(transform__key="BQ")
    cli = [sys.executable, "-m", "flowprov.cli"]
    out = tmp_path / "bq.jsonl"
    done = subprocess.run(
        [*cli, "export", top.uid, "-f", "openlineage", "-o", str(out), "--db", store_url],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 8  # 4 runs, START + COMPLETE each
    fresh = f"sqlite:///{tmp_path / 'other.db'}"
    done = subprocess.run([*cli, "import", str(out), "--db", fresh], capture_output=True, text=True)
    assert done.returncode == 0 and "4 run(s) imported" in done.stdout, done.stderr
    missing = subprocess.run(
        [*cli, "import", str(tmp_path / "nope.jsonl"), "--db", fresh], capture_output=True, text=True
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "nope.jsonl" in missing.stderr
    bad = subprocess.run([*cli, "export", top.uid, "-f", "xml", "--db", store_url], capture_output=True, text=True)
    assert bad.returncode == 2 and "--format 'xml'" in bad.stderr and "Traceback" not in bad.stderr


NF_PROV_CRATE = REPO / "tests" / "data" / "ro-crate" / "nf-prov-nf-core-demo"


def test_flowprov_import_of_a_crate_nf_prov_wrote(store_url):
    """nf-prov's Workflow Run Crate of nf-core/demo (Nextflow 24.10.2; see SOURCES.tsv), through
    `flowprov import`: the workflow run, its 7 tasks under it, params, and task-to-task files."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "flowprov.cli", "import", str(NF_PROV_CRATE), "--db", store_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "8 run(s) imported" in done.stdout, done.stderr
    ln.connect(store_url)
    [top] = ln.Run.filter(initiated_by_run__isnull=True).list()
    assert top.reference == "#0525d4a9-ccd8-4f53-9ae3-3795511610d2" and top.reference_type == "ro_crate_action"
    assert top.aux["engine"] == {"name": "Nextflow 24.10.2"} and top.status == "completed"  # as the crate names it
    assert top.params.get_values()["outdir"] and top.finished_at > top.started_at
    tasks = top.initiated_runs.all().list()
    assert sorted(t.name for t in tasks) == sorted(
        [
            f"NFCORE_DEMO:DEMO:{step} ({s})"
            for step in ("SEQTK_TRIM", "FASTQC")
            for s in ("SAMPLE1_PE", "SAMPLE2_PE", "SAMPLE3_SE")
        ]
        + ["NFCORE_DEMO:DEMO:MULTIQC"]
    )
    assert all(t.started_at == top.started_at and "times_unknown" in t.aux for t in tasks)  # nf-prov writes none
    multiqc = next(t for t in tasks if t.name.endswith("MULTIQC"))
    fastqc_outputs = {a.id for t in tasks if ":FASTQC " in t.name for a in t.output_artifacts.all()}
    assert fastqc_outputs & {a.id for a in multiqc.input_artifacts.all()}  # MultiQC read FastQC's reports
    before = (ln.Run.filter().count(), ln.Artifact.filter().count())
    import_(NF_PROV_CRATE)
    assert (ln.Run.filter().count(), ln.Artifact.filter().count()) == before  # importing twice changes nothing
