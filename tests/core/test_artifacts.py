"""Artifacts and hashing on both stores: in-place registration, identity, versions, hash values."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

import flowprov as ln
from flowprov.core import hashing
from flowprov.core.exceptions import ValidationError


def lamindb_md5(data: bytes) -> str:
    """lamindb's small-file hash, computed independently of flowprov's code."""
    return base64.urlsafe_b64encode(hashlib.md5(data).digest()).decode().strip("=")[:22]


def lamindb_md5_d(member_hashes: list[str]) -> str:
    digests = b"".join(hashlib.md5(h.encode("utf-8")).digest() for h in sorted(member_hashes))
    return base64.urlsafe_b64encode(hashlib.md5(digests).digest()).decode().strip("=")[:22]


def test_small_file_hash_equals_lamindbs(tmp_path):
    for content in (b"", b"a", b"hello world\n", os.urandom(100_000)):
        path = tmp_path / "f.bin"
        path.write_bytes(content)
        os.utime(path, ns=(1, len(content) + 1))  # new mtime: no stale cache entry
        assert hashing.hash_path(path).hash == lamindb_md5(content)
        assert hashing.hash_path(path).hash_type == "md5"


def test_directory_hash_equals_lamindbs(tmp_path):
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    files = {"a.txt": b"A", "sub/b.txt": b"BB", "sub/c.txt": b"CCC"}
    for name, content in files.items():
        (d / name).write_bytes(content)
    content = hashing.hash_path(d)
    assert content.hash == lamindb_md5_d([lamindb_md5(c) for c in files.values()])
    assert (content.hash_type, content.n_files, content.size) == ("md5-d", 3, 6)


@pytest.mark.slow
def test_large_files_are_hashed_whole(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(120):
            fh.write(block)
    before = hashing.hash_path(path)
    assert before.hash_type == "blake3" and before.size == 120 << 20
    with open(path, "r+b") as fh:  # one byte in the middle
        fh.seek(60 << 20)
        original = fh.read(1)
        fh.seek(60 << 20)
        fh.write(bytes([original[0] ^ 0xFF]))
    after = hashing.hash_path(path)
    assert after.hash != before.hash
    # lamindb's sampled hash misses exactly this edit; flowprov offers it for parity
    monkeypatch.setenv("FLOWPROV_LARGE_FILE_HASH", "sha1-fl")
    sampled_after = hashing.hash_path(path).hash
    with open(path, "r+b") as fh:
        fh.seek(60 << 20)
        fh.write(original)
    os.utime(path, ns=(1, 2))
    assert hashing.hash_path(path).hash == sampled_after
    assert hashing.hash_path(path).hash_type == "sha1-fl"


def test_hash_cache_costs_one_stat(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    path.write_text("cached")
    hashing.hash_path(path)
    calls = []
    real = hashing.hash_file_uncached
    monkeypatch.setattr(hashing, "hash_file_uncached", lambda p, size: calls.append(p) or real(p, size))
    stats, opens = [], []
    real_stat, real_open = os.stat, open
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: stats.append(str(p)) or real_stat(p, *a, **k))
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: opens.append(str(p)) or real_open(p, *a, **k))
    hashing.hash_path(path)
    monkeypatch.setattr(os, "stat", real_stat)
    monkeypatch.setattr("builtins.open", real_open)
    assert calls == [] and opens == []  # the content is not read again
    assert stats.count(str(path)) == 1, stats
    path.write_text("changed!")
    hashing.hash_path(path)
    assert len(calls) == 1


def test_file_changing_while_hashed_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "growing.log"
    path.write_text("line 1\n")
    real = hashing.hash_file_uncached

    def hash_then_append(p, size):
        value = real(p, size)
        with open(p, "a") as fh:
            fh.write("line 2\n")
        return value

    monkeypatch.setattr(hashing, "hash_file_uncached", hash_then_append)
    with pytest.raises(hashing.HashingError, match="changed while it was being hashed"):
        hashing.hash_path(path)


def test_registration_is_in_place(store, tmp_path):
    path = tmp_path / "reads.fastq.gz"
    path.write_bytes(b"@r1\nACGT\n")
    a = ln.Artifact(path, key="raw/reads.fastq.gz", description="reads").save()
    assert a.path == path and a.uri == path.as_uri() and a.local_path == path  # lamindb: a Path
    assert (a.suffix, a.size, a._hash_type, a.n_files) == (".fastq.gz", 9, "md5", None)
    assert len(a.uid) == 20 and a.uid.endswith("0000") and a.is_latest
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(("home", "store"))) == ["reads.fastq.gz"]


def test_same_bytes_return_the_stored_record(store, tmp_path):
    one = tmp_path / "one.txt"
    two = tmp_path / "two.txt"
    one.write_text("same")
    two.write_text("same")
    a = ln.Artifact(one).save()
    b = ln.Artifact(two).save()
    assert b.id == a.id and ln.Artifact.filter().count() == 1
    store.session.expunge_all()
    assert ln.Artifact.get(a.uid).uri == two.as_uri()  # the last known location


def test_new_bytes_under_a_key_are_a_new_version(store, tmp_path):
    path = tmp_path / "counts.tsv"
    path.write_text("v1")
    v1 = ln.Artifact(path, key="out/counts.tsv").save()
    path.write_text("v2")
    v2 = ln.Artifact(path, key="out/counts.tsv").save()
    assert v2.id != v1.id and v2.uid[:16] == v1.uid[:16] and v2.uid.endswith("0001")
    v1.refresh_from_db()
    assert not v1.is_latest and v2.is_latest
    assert ln.Artifact.get(v1.uid[:16]).id == v2.id
    # without a key, the path is the family
    other = tmp_path / "plain.txt"
    other.write_text("p1")
    p1 = ln.Artifact(other).save()
    other.write_text("p2")
    p2 = ln.Artifact(other).save()
    assert p2.uid[:16] == p1.uid[:16]


def test_directories(store, tmp_path):
    d = tmp_path / "results"
    d.mkdir()
    (d / "a.txt").write_text("a")
    (d / "b.txt").write_text("b")
    art = ln.Artifact(d, key="results/").save()
    assert (art._hash_type, art.n_files, art.size, art.suffix) == ("md5-d", 2, 2, "")


def test_bad_paths_save_nothing(store, tmp_path):
    with pytest.raises(ValidationError, match="no such file"):
        ln.Artifact(tmp_path / "missing.txt")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match="not a regular file"):
        ln.Artifact(fifo)
    with pytest.raises(ValueError, match="only local"):
        ln.Artifact("s3://bucket/key.txt")
    assert ln.Artifact.filter().count() == 0


def test_permission_denied_is_a_clear_error(store, tmp_path, monkeypatch):
    path = tmp_path / "secret.txt"
    path.write_text("x")

    def refuse(p, size):
        raise PermissionError(13, "Permission denied", str(p))

    # root (as in CI) reads any file, so the refusal is injected where the file is opened
    monkeypatch.setattr(hashing, "hash_file_uncached", refuse)
    with pytest.raises(ValidationError, match="permission denied"):
        ln.Artifact(path)
    assert ln.Artifact.filter().count() == 0


def test_collections(store, tmp_path):
    arts = []
    for i in range(3):
        p = tmp_path / f"part{i}.txt"
        p.write_text(f"part {i}")
        arts.append(ln.Artifact(p).save())
    t = ln.Transform(name="collect").save()
    run = ln.Run(t).save()
    col = ln.Collection([arts[2], arts[0], arts[1]], key="parts", run=run).save()
    assert [a.id for a in col.artifacts.all()] == [arts[2].id, arts[0].id, arts[1].id]
    same = ln.Collection([arts[0], arts[1], arts[2]], key="parts").save()  # order does not change identity
    assert same.id == col.id
    more = ln.Collection(arts[:2], key="parts").save()
    assert more.id != col.id and more.uid[:16] == col.uid[:16] and more.is_latest
    assert col.run.id == run.id and [c.key for c in run.output_collections.all()] == ["parts"]
    with pytest.raises(ValidationError, match="not saved"):
        unsaved_path = tmp_path / "unsaved.txt"
        unsaved_path.write_text("u")
        ln.Collection([ln.Artifact(unsaved_path)], key="x").save()


def test_threads_opening_a_new_hash_cache_at_once_all_hash(tmp_path, monkeypatch):
    """Switching a new cache file to WAL from several connections at once can be refused as
    locked; the cache only saves time, so every thread still gets its hash."""
    import threading

    from flowprov.core import hashing

    files = []
    for i in range(8):
        f = tmp_path / f"f{i}.txt"
        f.write_text(f"content {i}\n")
        files.append(f)
    monkeypatch.setenv("FLOWPROV_HASH_CACHE", "off")
    expected = [hashing.hash_file(f) for f in files]
    monkeypatch.setenv("FLOWPROV_HASH_CACHE", str(tmp_path / "cache" / "hash-cache.db"))
    barrier = threading.Barrier(len(files))
    results: dict[int, tuple[str, str]] = {}

    def work(i: int) -> None:
        barrier.wait()
        results[i] = hashing.hash_file(files[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(files))] == expected
