"""lamindb's versioning API (tests/pydata/test_is_versioned.py, test_transform.py): revises=,
.versions, is_latest, overwrite_versions, identity at construction."""

from __future__ import annotations

import pytest

import flowprov as ln


def test_revises_joins_the_family_of_the_revised_record(store):
    v1 = ln.Transform(key="Introduction").save()
    v2 = ln.Transform(key="Introduction v2", revises=v1, version="2").save()
    assert (v1.is_latest, v2.is_latest) == (False, True)
    assert v2.uid[:-4] == v1.uid[:-4] and v2.uid.endswith("0001") and v2.version_tag == "2"
    # revising an older version still takes the next number after the family's newest
    v3 = ln.Transform(key="Introduction", revises=v1).save()
    assert v3.uid.endswith("0002") and v3.is_latest and not ln.Transform.get(key="Introduction v2").is_latest
    assert ln.Transform(key="Introduction").save() == v3  # the same key, no source: the stored head
    assert ln.Transform.get(v3.uid[:-4]) == v3  # a stem names the family's head
    assert ln.Transform.filter(key="Introduction").count() == 2
    assert v1.versions.list() == [v1, v2, v3]


def test_revises_with_the_same_source_is_that_version(store):
    v1 = ln.Transform(key="s.py", kind="script", source_code="a").save()
    assert ln.Transform(key="s.py", kind="script", source_code="a", revises=v1).save() == v1
    v2 = ln.Transform(key="s.py", kind="script", source_code="b", revises=v1).save()
    assert v2 != v1 and v2.is_latest


def test_revises_must_be_a_saved_record_of_the_same_class(store, tmp_path):
    v1 = ln.Transform(key="x")
    with pytest.raises(TypeError, match="`revises` has to be of type `Transform`"):
        ln.Transform(key="y", revises="not a transform")
    with pytest.raises(ValueError, match="save the record being revised first"):
        ln.Transform(key="y", revises=v1)
    path = tmp_path / "a.txt"
    path.write_text("1")
    with pytest.raises(TypeError, match="`revises` has to be of type `Artifact`"):
        ln.Artifact(path, revises=v1)


def test_artifact_revises_keeps_the_key_and_versions_follow(store, tmp_path):
    first, second = tmp_path / "v1.csv", tmp_path / "v2.csv"
    first.write_text("a\n1\n")
    second.write_text("a\n2\n")
    v1 = ln.Artifact(first, key="tables/t.csv").save()
    v2 = ln.Artifact(second, revises=v1).save()
    assert v2.key == "tables/t.csv" and v2.uid[:-4] == v1.uid[:-4]
    assert [a.uid for a in v2.versions] == [v1.uid, v2.uid]
    assert ln.Artifact.get(key="tables/t.csv") == v2


def test_a_stored_transform_is_returned_at_construction(store):
    stored = ln.Transform(key="my-transform", source_code="1").save()
    again = ln.Transform(key="my-transform", source_code="1")
    assert again is stored and again.id is not None  # before any save()
    assert ln.Transform(key="my-transform", source_code="2").id is None  # other source: a new one
    stored.delete()
    assert ln.Transform(key="my-transform", source_code="1").id is None  # never from the trash
    stored.delete(permanent=True)


def test_construction_never_opens_a_store(tmp_path, monkeypatch):
    # no store chosen yet: constructing a Transform must not create the per-user default store
    from flowprov.core import paths

    ln.Transform(key="offline", source_code="x")
    assert not (paths.data_dir() / "default.db").exists()


def test_folders_overwrite_versions_and_go_together(store, tmp_path):
    folder = tmp_path / "plots"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"1")
    v1 = ln.Artifact(folder, key="plots").save()
    (folder / "b.png").write_bytes(b"2")
    v2 = ln.Artifact(folder, key="plots").save()
    assert v1.overwrite_versions and v2.overwrite_versions and v2.uid[:-4] == v1.uid[:-4]
    single = tmp_path / "one.txt"
    single.write_text("x")
    assert not ln.Artifact(single).save().overwrite_versions
    assert ln.Artifact.filter(overwrite_versions=True).count() == 2
    v2.delete()  # the versions share one location: they go to the trash together
    assert ln.Artifact.filter(key="plots").count() == 0
    assert ln.Artifact.filter(key="plots", branch_id=-1).count() == 2
