"""lamindb 2.x behaviour measured by scripts/lamindb_yardstick.py (lamindb's tests/pydata): the
artifact's `path` as a pathlib.Path, empty files, get(is_run_input=), loaders, ln.view, settings,
`flowprov init --storage`, lamindb's messages for the same conditions, and deletion details."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import flowprov as ln
from flowprov.cli import app


def _png(path: Path) -> Path:
    """A real 1x1 PNG (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x00")))
    with path.open("ab") as fh:
        fh.write(chunk(b"IEND", b""))
    return path


def test_path_is_a_pathlib_path_and_filters_take_uri_or_path(store, tmp_path):
    f = tmp_path / "reads.txt"
    f.write_text("ACGT")
    a = ln.Artifact(f, key="reads.txt").save()
    assert a.path == f and isinstance(a.path, Path) and a.uri == f.as_uri()
    assert ln.Artifact.get(path=a.path) == a and ln.Artifact.get(path=f.as_uri()) == a
    assert ln.Artifact.filter(path__startswith="file://").count() == 1
    assert ln.Artifact.filter().df()["path"].tolist() == [f.as_uri()] and f"path='{f.as_uri()}'" in repr(a)
    # lineage keeps the stored location: the run's link row is the URI
    run = ln.Run(ln.Transform(key="reader").save()).save()
    run.input_artifacts.add(a)
    assert ln.Artifact.get(path=f, is_run_input=run) == a and list(run.input_artifacts) == [a]
    f.unlink()  # the record keeps its location after the file is gone
    assert ln.Artifact.get(a.uid).path == f and not ln.Artifact.get(a.uid).path.exists()


def test_empty_files_are_separate_records_with_their_own_writers(store, tmp_path):
    transform = ln.Transform(key="touch").save()
    runs = [ln.Run(transform).save() for _ in range(2)]
    made = []
    for i, run in enumerate(runs):
        (tmp_path / f"done{i}").write_text("")
        made.append(ln.Artifact(tmp_path / f"done{i}", run=run).save())
    assert made[0].hash == made[1].hash and made[0].id != made[1].id  # lamindb: empty files not merged
    assert [list(r.output_artifacts) for r in runs] == [[made[0]], [made[1]]]
    assert ln.Artifact.get(made[1].uid).run == runs[1]


def test_get_is_run_input_links_artifacts_and_collections(store, tmp_path):
    (tmp_path / "t.csv").write_text("a\n1\n")
    artifact = ln.Artifact(tmp_path / "t.csv", key="t.csv").save()
    collection = ln.Collection(artifact, key="c").save()
    run = ln.Run(ln.Transform(key="consumer").save()).save()
    assert ln.Artifact.get(key="t.csv", is_run_input=run) in run.input_artifacts.all()
    assert ln.Collection.get(key="c", is_run_input=run) in run.input_collections.all()
    assert list(collection.ordered_artifacts) == [artifact]
    with pytest.raises(TypeError, match="pass the Run"):
        ln.Artifact.get(key="t.csv", is_run_input="nope")


def test_permanent_transform_delete_takes_its_runs_and_leaves_them_readable(store):
    transform = ln.Transform(key="short-lived").save()
    run = ln.Run(transform).save()
    run2 = ln.Run.get(uid=run.uid)
    run2.delete(permanent=True)
    assert run2.transform == transform  # read after the delete (lamindb code does)
    ln.Run(transform).save()
    transform.delete(permanent=True)
    assert ln.Run.filter(transform__key="short-lived", branch_id=None).count() == 0


def test_loaders_for_images_and_parquet(store, tmp_path):
    svg = tmp_path / "plot.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')
    for path in (_png(tmp_path / "plot.png"), svg):
        assert ln.Artifact(path, key=path.name).load() == path  # lamindb: the path (shown in a notebook)
    df = pd.DataFrame({"a": [3, 1], "b": ["x", "y"]})
    import pyarrow.parquet as pq

    sorting = [pq.SortingColumn(0)]
    table = ln.Artifact.from_dataframe(df, key="df.parquet", parquet_kwargs={"sorting_columns": sorting}).save()
    dataset = table.open()  # a pyarrow dataset, as in lamindb
    assert dataset.to_table().to_pandas().equals(df)
    assert list(next(dataset.get_fragments()).metadata.row_group(0).sorting_columns) == sorting


def test_tracked_loads_are_run_inputs_and_settings_show_it(store, tmp_path):
    (tmp_path / "in.csv").write_text("a\n1\n")
    source = ln.Artifact(tmp_path / "in.csv", key="in.csv", run=False).save()
    run = ln.track(ln.Transform(key="loader", kind="pipeline"))
    try:
        source.load()
        assert list(ln.Run.get(run.uid).input_artifacts) == [source]
    finally:
        ln.finish()
    text = repr(ln.settings).splitlines()
    assert text[0] == "Settings" and [line.split(":")[0].strip() for line in text[1:]] == [
        "instance",
        "storage",
        "verbosity",
        "track_run_inputs",
    ]
    assert Path(ln.settings.storage).is_absolute()


def test_view_prints_the_newest_records(store, capsys):
    ln.Transform(key="shown").save()
    ln.view(modules="core")
    assert "Transform" in capsys.readouterr().out
    ln.view(modules="bionty")  # not a flowprov module: nothing to show
    assert capsys.readouterr().out == ""


def test_lamindb_messages_for_the_same_conditions(store, tmp_path):
    transform = ln.Transform(key="mytransform", version="1").save()
    assert ln.Transform(key="mytransform", version="1") == transform  # no source saved yet: the same
    transform.source_code = "print(1)"
    transform.save()
    taken = "ValueError: Please change the version tag or leave it `None`, '1' is already taken"
    with pytest.raises(ValueError) as error:
        ln.Transform(key="mytransform", version="1")
    assert error.exconly() == taken
    with pytest.raises(ValueError) as error:
        ln.Transform(key="mytransform", version="1", source_code="print(2)").save()
    assert error.exconly() == taken
    with pytest.raises(ValueError, match=re.escape("Field 'id' expected a number but got 'abc'.")):
        ln.Artifact.get(id="abc")
    with pytest.raises(ln.errors.InvalidArgument, match="You can query either by available fields"):
        ln.Artifact.filter(nonexistent=1)
    with pytest.raises(ln.errors.FieldValidationError, match="Use keyword arguments instead of positional"):
        ln.User("an arg")
    with pytest.raises(ln.errors.FieldValidationError):
        ln.Transform(key="new", kind="invalid")
    with pytest.raises(ValueError, match="'..'"):
        ln.Transform(key="a/../b")
    with pytest.raises(ValueError, match="without passing transform in a notebook or script"):
        ln.track(transform=ln.Transform(key="nb", kind="notebook"))
    with pytest.raises(ln.errors.TrackNotCalled, match=re.escape("Please run `ln.track()` before `ln.finish()")):
        ln.finish()
    (tmp_path / "x.tsv").write_text("a\n")
    with pytest.raises(ValueError, match="Do not pass both key_is_virtual and _key_is_virtual."):
        ln.Artifact(tmp_path / "x.tsv", key="x.tsv", key_is_virtual=True, _key_is_virtual=False)
    assert ln.Artifact(tmp_path / "x.tsv", key="x.tsv", key_is_virtual=True).key == "x.tsv"
    assert ln.User.filter().lookup(field=ln.User.handle)  # a field object, as in lamindb


def test_init_storage_sets_the_default_storage_location(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["init", "--storage", "objects"])
    assert result.exit_code == 0, result.output
    assert f"default storage: {tmp_path / 'objects'}" in result.output and (tmp_path / "objects").is_dir()
    again = runner.invoke(app, ["init", "--storage", "objects"])  # the same directory: fine
    assert again.exit_code == 0, again.output
    other = runner.invoke(app, ["init", "--storage", "elsewhere"])
    assert other.exit_code == 2 and "default storage location is" in other.output
