"""lamindb 2.x names next to the seed API: Transform(key=, kind=), ln.errors, ln.settings, ln.models.

Each test names the lamindb test (tests/core of laminlabs/lamindb) whose behaviour it checks.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import flowprov as ln


def test_run_page_2x_example_runs_unchanged(store):
    # lamindb's current Run page (and test_run.py::test_run): Transform(key=..., kind=...)
    ln.Transform(key="Cell Ranger", version="7.2.0", kind="pipeline").save()
    transform = ln.Transform.get(key="Cell Ranger", version="7.2.0")
    run = ln.Run(transform, reference="loving_blackwell", reference_type="nextflow_session_id").save()
    assert ln.Run.get(run.uid).transform == transform
    assert transform.kind == transform.type == "pipeline"
    assert transform.name == "Cell Ranger"


def test_kind_and_type_are_one_field(store):
    by_kind = ln.Transform(key="scripts/a.py", kind="script").save()
    by_type = ln.Transform(name="b", type="notebook").save()
    assert by_kind.type == "script" and by_type.kind == "notebook"
    assert ln.Transform.get(kind="notebook") == by_type
    assert ln.Transform.filter(type="script").one() == by_kind
    assert set(ln.Transform.filter(kind__in=["script", "notebook"]).list()) == {by_kind, by_type}
    by_kind.kind = "function"
    by_kind.save()
    assert ln.Transform.get(by_kind.uid).type == "function"
    assert ln.Transform(key="c").kind == "pipeline"  # the default, as before
    assert ln.Transform(key="d", kind="step", type="step").type == "step"


def test_conflicting_kind_and_type_refused(store):
    with pytest.raises(ValueError, match="kind is lamindb 2.x's name of type"):
        ln.Transform(key="x", kind="script", type="notebook")


def test_an_unknown_kind_is_a_validation_error(store):
    with pytest.raises(ln.errors.ValidationError, match="'upload' is not one of"):
        ln.Transform(key="x", kind="upload").save()


def test_lookup_without_field_reaches_every_transform(store):
    # lamindb test_queryset.py/test_record_basics lookup: every record reachable by its name field
    keyed = ln.Transform(key="pipelines/rnaseq.nf", kind="pipeline").save()
    named = ln.Transform(name="Cell Ranger", type="pipeline").save()
    lookup = ln.Transform.lookup()
    assert lookup.pipelines_rnaseq_nf == keyed
    assert lookup.cell_ranger == named
    assert len(lookup) == 2
    assert ln.Transform.lookup(return_field="uid").cell_ranger == named.uid
    with pytest.raises(ln.errors.InvalidArgument):
        ln.Transform.lookup(return_field="nope")
    assert ln.Transform.lookup(field="key").dict() == {"pipelines/rnaseq.nf": keyed}


def test_run_with_a_non_transform_raises_value_error(store):
    # lamindb test_run.py::test_edge_cases: Run(1, 2) is a ValueError; Run() a TypeError
    with pytest.raises(ValueError):
        ln.Run(1, 2)
    with pytest.raises(TypeError):
        ln.Run(1, 2)  # flowprov's earlier type stays true too
    with pytest.raises(TypeError):
        ln.Run()


def test_unknown_filter_field_is_invalid_argument(store):
    # lamindb test_queryset.py: filtering on a field the registry lacks raises InvalidArgument
    with pytest.raises(ln.errors.InvalidArgument, match="Transform has no field 'nonexistent'"):
        ln.Transform.filter(nonexistent="x").list()
    with pytest.raises(ln.FieldError):
        ln.Run.filter(transform__nonexistent="x").list()


def test_errors_module_has_lamindb_names(store):
    assert ln.errors.ObjectDoesNotExist is ln.DoesNotExist
    assert ln.errors.FieldValidationError is ln.ValidationError
    assert issubclass(ln.errors.InvalidArgument, ln.FieldError)
    with pytest.raises(ln.errors.ObjectDoesNotExist):
        ln.Transform.get(key="never saved")
    with pytest.raises(ln.errors.MultipleResultsFound):
        ln.Transform(name="twice", source_code="a").save()
        ln.Transform(name="twice", source_code="b").save()
        ln.Transform.filter(name="twice").one()


def test_models_module_names_the_record_classes():
    assert ln.models.Run is ln.Run and ln.models.Transform is ln.Transform
    assert issubclass(ln.models.Artifact, ln.models.SQLRecord)


def test_settings_verbosity(store):
    # lamindb test_settings.py: verbosity by name or number, the current store
    previous = ln.settings.verbosity
    try:
        ln.settings.verbosity = "debug"
        assert ln.settings.verbosity == "debug"
        assert logging.getLogger("flowprov").level == logging.DEBUG
        ln.settings.verbosity = 0
        assert ln.settings.verbosity == "error"
        with pytest.raises(ValueError, match="use one of error, warning"):
            ln.settings.verbosity = "loud"
    finally:
        ln.settings.verbosity = previous
    assert ln.settings.store is ln.current_store() is store
    assert ln.settings.instance is store


def test_import_stays_light():
    code = (
        "import sys, flowprov as ln; ln.errors; ln.settings; ln.models; "
        "heavy = [m for m in ('pandas', 'alembic', 'prefect', 'snakemake') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "table.csv").write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "table.tsv").write_text("a\tb\n3\tz\n")
    (tmp_path / "params.json").write_text('{"genome": "GRCh38", "threads": 4}')
    (tmp_path / "params.yaml").write_text("genome: GRCm39\nthreads: 8\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "reads.bam").write_bytes(b"\x00BAM")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x.txt").write_text("x")
    return tmp_path


def test_load_by_suffix(store, files):
    # lamindb test_artifact.py / test_load.py: load() of csv, tsv, json, yaml and text files
    csv = ln.Artifact(files / "table.csv", key="table.csv").save().load()
    assert list(csv.columns) == ["a", "b"] and csv["a"].tolist() == [1, 2]
    tsv = ln.Artifact(files / "table.tsv").save().load()
    assert tsv.to_dict("list") == {"a": [3], "b": ["z"]}
    assert ln.Artifact(files / "params.json").save().load() == {"genome": "GRCh38", "threads": 4}
    assert ln.Artifact(files / "params.yaml").save().load() == {"genome": "GRCm39", "threads": 8}
    assert ln.Artifact(files / "notes.txt").save().load() == "hello\n"


def test_load_refuses_what_it_cannot_read(store, files):
    bam = ln.Artifact(files / "reads.bam").save()
    with pytest.raises(NotImplementedError, match="no loader for suffix '.bam'.*artifact.cache"):
        bam.load()
    folder = ln.Artifact(files / "folder").save()
    with pytest.raises(NotImplementedError, match="is a directory"):
        folder.load()
    notes = ln.Artifact(files / "notes.txt").save()
    (files / "notes.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no longer there"):
        notes.load()


def test_cache_and_open_read_the_file_in_place(store, files):
    # lamindb test_cache.py: cache() gives a local path; registration in place means the file itself
    artifact = ln.Artifact(files / "notes.txt").save()
    stored = ln.Artifact.get(artifact.uid)
    assert stored.cache() == files / "notes.txt" == stored.local_path
    with stored.open() as fh:
        assert fh.read() == "hello\n"
    with stored.open("rb") as fh:
        assert fh.read() == b"hello\n"
    with pytest.raises(ValueError, match="open read-only"):
        stored.open("w")
    assert (files / "notes.txt").read_text() == "hello\n"


def test_skip_hash_lookup_makes_a_new_record(store, files):
    # lamindb test_artifact.py (skip_hash_lookup): known bytes, still a new artifact
    first = ln.Artifact(files / "notes.txt", key="notes/a.txt").save()
    assert ln.Artifact(files / "notes.txt", key="notes/a.txt").save() == first  # default: merged by hash
    second = ln.Artifact(files / "notes.txt", key="notes/b.txt", skip_hash_lookup=True).save()
    assert second.id != first.id and second.hash == first.hash
    assert ln.Artifact.filter(hash=first.hash).count() == 2
    [batched] = ln.save([ln.Artifact(files / "notes.txt", key="notes/c.txt", skip_hash_lookup=True)])
    assert batched.id not in (first.id, second.id)


def test_params_assignment_replaces_and_saves(store):
    # lamindb test_run.py / test_track.py params: run.params = {...}, compared as a dict
    transform = ln.Transform(key="train.py", kind="script").save()
    unsaved = ln.Run(transform)
    unsaved.params = {"lr": 0.1, "api_token": "abc"}
    run = unsaved.save()
    assert ln.Run.get(run.uid).params == {"lr": 0.1, "api_token": "***"}  # secrets redacted as before
    run.params = {"epochs": 3}
    assert ln.Run.get(run.uid).params == {"epochs": 3}  # replaced and saved right away
    run.params.add_values({"lr": 0.01})
    assert ln.Run.filter(params__lr=0.01).one() == run
    assert ln.Run.get(run.uid).params.get_values() == {"epochs": 3, "lr": 0.01}
    with pytest.raises(TypeError, match="run.params takes a dict"):
        run.params = [("lr", 1)]


def test_describe_prints_fields_relations_and_lineage(store, files, capsys):
    # lamindb test_describe_and_df_calls.py / test_artifact_describe_to_dataframe.py: describe() prints a tree
    transform = ln.Transform(key="pipelines/rnaseq.nf", version="1.0", kind="pipeline").save()
    run = ln.Run(transform, reference="tender_hopper", reference_type="nextflow_run_name").save()
    run.params = {"genome": "GRCh38"}
    reads = ln.Artifact(files / "table.csv", key="reads.csv", run=False).save()
    run.input_artifacts.add(reads)
    out = ln.Artifact(files / "notes.txt", key="out/notes.txt", run=run).save()
    text = run.describe(return_str=True)
    assert text.splitlines()[0] == f"Run {run.uid}"
    for line in ("  status: started", "  reference: tender_hopper", "    genome: GRCh38", "    - reads.csv"):
        assert line in text.splitlines(), (line, text)
    assert "    - out/notes.txt" in text and "    key: pipelines/rnaseq.nf" in text
    out.describe()
    printed = capsys.readouterr().out
    assert f"created_by_run: {run.uid}" in printed and "transform: pipelines/rnaseq.nf" in printed
    assert "runs: 1" in transform.describe(return_str=True)
    assert f"input_of_runs: ['{run.uid}']" in reads.describe(return_str=True)
    user = ln.User.filter().first()  # lamindb test_sqlrecord.py::test_repr_describe: every record
    assert user.describe(return_str=True).startswith(f"User {user.uid}\n  handle: {user.handle}")


def test_version_tag_and_versions(store, files):
    # lamindb test_is_versioned.py::test_transform_versioning_based_on_key / test_version_backward_compatibility
    v1 = ln.Transform(key="test-pipeline", version="1.0", source_code="1", kind="pipeline").save()
    assert v1.version_tag == v1.version == "1.0" and v1.is_latest
    v2 = ln.Transform(key="test-pipeline", version_tag="2.0", source_code="2", kind="pipeline").save()
    assert v2.version == "2.0" and v2.is_latest
    assert ln.Transform.get(key="test-pipeline", version_tag="1.0") == v1
    assert ln.Transform.get(key="test-pipeline", version="2.0") == v2
    assert not ln.Transform.get(key="test-pipeline", version="1.0").is_latest
    assert list(v1.versions) == [v1, v2] == list(v2.versions)
    assert v2.versions.filter(is_latest=True).one() == v2
    first = ln.Artifact(files / "table.csv", key="t.csv", version="1").save()
    (files / "table.csv").write_text("a,b\n9,q\n")
    second = ln.Artifact(files / "table.csv", key="t.csv", version_tag="2").save()
    assert list(second.versions) == [first, second]
    assert ln.Artifact.get(key="t.csv", version_tag="2") == second and second.version == "2"
    with pytest.raises(AttributeError, match="not versioned"):
        _ = ln.Run(v1).versions


def test_objects_manager(store):
    # lamindb tests throughout (test_run.py, test_is_versioned.py): Registry.objects.filter(...)
    transform = ln.Transform(key="objects-demo", kind="script").save()
    assert ln.Transform.objects.filter(key="objects-demo").one() == transform
    assert ln.Transform.objects.get(key="objects-demo") == transform
    assert transform in ln.Transform.objects.all().list()
    assert not ln.Run.objects.filter(transform=transform).exists()
