"""lamindb's artifact constructors and rules (tests/pydata/test_artifact_basics.py, test_run.py,
test_queryset.py): from_dataframe, from_dir, key validation, params without `params__`."""

from __future__ import annotations

import pandas as pd
import pytest

import flowprov as ln
from flowprov.core.registry.artifact_create import default_storage_dir


def test_from_dataframe_writes_into_the_default_storage(store):
    df = pd.DataFrame({"gene": ["A", "B"], "n": [1, 2]})
    artifact = ln.Artifact.from_dataframe(df, key="tables/counts.parquet", description="counts").save()
    storage = ln.Storage.filter().order_by("id").first()
    assert artifact.storage == storage and storage.root == str(default_storage_dir(store))
    assert artifact.suffix == ".parquet" and artifact.kind == "dataset"
    assert artifact.cache().parent == default_storage_dir(store) and artifact.cache().exists()
    assert artifact.load().equals(df)
    # the same table again: the same file and the same record
    assert ln.Artifact.from_dataframe(df, key="tables/counts.parquet").save() == artifact
    assert len(list(default_storage_dir(store).iterdir())) == 1
    changed = ln.Artifact.from_dataframe(df.assign(n=[3, 4]), key="tables/counts.parquet").save()
    assert changed.uid[:-4] == artifact.uid[:-4] and changed.is_latest and not artifact.is_latest


def test_the_default_storage_sits_beside_the_sqlite_file(store):
    if store.dialect == "sqlite":
        database = store.url.split("///", 1)[1]
        assert str(default_storage_dir(store)) == database.removesuffix(".db") + "_storage"
    else:  # a server store keeps objects under the user's data directory
        assert default_storage_dir(store).name == "storage"


def test_from_dataframe_refuses_other_objects(store):
    with pytest.raises(ln.errors.InvalidArgument, match="takes a pandas DataFrame"):
        ln.Artifact.from_dataframe({"a": [1]})


def test_from_dir_registers_each_file_in_place(store, tmp_path):
    folder = tmp_path / "results"
    (folder / "qc").mkdir(parents=True)
    (folder / "qc" / "report.html").write_text("<p>ok</p>")
    (folder / "counts.csv").write_text("a\n1\n")
    artifacts = ln.Artifact.from_dir(folder)
    assert [a.key for a in artifacts] == ["results/counts.csv", "results/qc/report.html"]
    assert all(a.id is None for a in artifacts)
    saved = ln.save(artifacts)
    assert [a.local_path for a in saved] == [folder / "counts.csv", folder / "qc" / "report.html"]
    assert [a.key for a in ln.Artifact.from_dir(folder, key="run1")] == ["run1/counts.csv", "run1/qc/report.html"]
    with pytest.raises(ln.errors.InvalidArgument, match="not a directory"):
        ln.Artifact.from_dir(folder / "counts.csv")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("a/../b.txt", "without '.' or '..' parts"),
        ("/abs/b.txt", "leading '/'"),
        ("uploads/test", "The suffix '' of the provided key is incorrect, it should be '.txt'."),
        ("uploads/test.csv", "The suffix '.csv' of the provided key is incorrect, it should be '.txt'."),
    ],
)
def test_artifact_keys_follow_lamindb_rules(store, tmp_path, key, message):
    path = tmp_path / "test.txt"
    path.write_text("x")
    with pytest.raises(ln.errors.InvalidArgument, match=message.replace("(", r"\(").replace(".", r"\.")):
        ln.Artifact(path, key=key)


def test_a_changed_key_is_checked_on_save(store, tmp_path):
    path = tmp_path / "reads.fastq.gz"
    path.write_bytes(b"@r\nA\n+\nI\n")
    artifact = ln.Artifact(path, key="raw/reads.fastq.gz").save()  # a two-part suffix is fine
    artifact.key = "raw/reads.txt"
    with pytest.raises(ln.errors.InvalidArgument, match="it should be '.fastq.gz'"):
        artifact.save()


def test_run_filter_by_param_name_without_params_prefix(store):
    transform = ln.Transform(key="align", kind="pipeline").save()
    grch38 = ln.Run(transform, params={"genome": "GRCh38", "threads": 8}).save()
    ln.Run(transform, params={"genome": "GRCm39", "threads": 2}).save()
    assert ln.Run.filter(genome="GRCh38").list() == [grch38]
    assert ln.Run.filter(threads__gt=4).list() == [grch38]
    # a name that is neither a field nor any stored param is still an error
    with pytest.raises(ln.errors.InvalidArgument, match="Run has no field 'colour'"):
        ln.Run.filter(colour="red").list()


def test_the_same_storage_root_saved_from_threads_is_one_record(store, tmp_path):
    # lamindb test_storage.py: concurrent saves of one root return the stored record
    import concurrent.futures

    root = str(tmp_path / "shared-root")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(lambda _: ln.Storage(root=root).save().id, range(8)))
    assert len(ids) == 1 and ln.Storage.filter(root=root).count() == 1
    assert ln.Storage(root=root).save().id in ids
