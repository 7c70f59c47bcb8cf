"""Tracking costs (issue 4), against baselines in the same run.

- hashing a large file vs `cat FILE > /dev/null` of the same file (raw read speed; the page cache
  is warmed first so both read from memory);
- re-registering unchanged files through the hash cache vs one `os.stat` per file.

`track()` + `finish()` is measured beside lamindb and MLflow in bench_peers.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from common import fmt_seconds, median_time, table


def bench_hash_large(tmp: Path, size_mib: int) -> list[str]:
    from flowprov.core.hashing import hash_file_uncached

    path = tmp / "large.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(size_mib):
            fh.write(block)
    subprocess.run(f"cat {path} > /dev/null", shell=True, check=True)
    size = path.stat().st_size
    ours = median_time(lambda: hash_file_uncached(path, size), 3)
    base = median_time(lambda: subprocess.run(f"cat {path} > /dev/null", shell=True, check=True), 3)
    path.unlink()
    speed = size / ours / (1 << 20)
    return [
        f"hash a {size_mib} MiB file (blake3, whole file)",
        fmt_seconds(ours),
        fmt_seconds(base),
        f"{ours / base:.2f}",
        f"{speed:.0f} MiB/s = {base / ours * 100:.0f}% of `cat` speed",
    ]


def make_files(directory: Path, n: int, text: str) -> list[Path]:
    """n small files with distinct contents."""
    directory.mkdir()
    paths = [directory / f"f{i}.txt" for i in range(n)]
    for i, p in enumerate(paths):
        p.write_text(f"{text} {i}")
    return paths


def bench_rehash(tmp: Path, n: int) -> list[str]:
    from flowprov.core.hashing import hash_path

    paths = make_files(tmp / "many", n, "file")
    for p in paths:
        hash_path(p)
    ours = median_time(lambda: [hash_path(p) for p in paths], 3)
    base = median_time(lambda: [p.stat() for p in paths], 3)
    return [
        f"re-hash {n:,} unchanged files through the cache",
        fmt_seconds(ours),
        fmt_seconds(base),
        f"{ours / base:.1f}",
        f"{ours / n * 1e6:.0f} µs per file; baseline: one os.stat per file",
    ]


def bench_reregister(tmp: Path, n: int) -> list[str]:
    import flowprov as ln
    from flowprov.core.store.connection import disconnect_all

    ln.connect(tmp / "rereg.db")
    paths = make_files(tmp / "rereg", n, "register")
    ln.save([ln.Artifact(p, run=False) for p in paths])
    start = time.perf_counter()
    again = ln.save([ln.Artifact(p, run=False) for p in paths])
    ours = time.perf_counter() - start
    assert ln.Artifact.filter().count() == n and len(again) == n
    base = median_time(lambda: [p.stat() for p in paths], 3)
    disconnect_all()
    return [
        f"re-register {n:,} unchanged files (`ln.save([ln.Artifact(p) ...])`)",
        fmt_seconds(ours),
        fmt_seconds(base),
        f"{ours / base:.0f}",
        f"{ours / n * 1e6:.0f} µs per file, nothing new written",
    ]


def run(quick: bool = False) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows.append(bench_hash_large(tmp, 256 if quick else 1024))
        rows.append(bench_rehash(tmp, 1_000 if quick else 10_000))
        rows.append(bench_reregister(tmp, 1_000 if quick else 10_000))
    return table("Tracking and hashing", ["workload", "flowprov", "baseline", "ratio", "note"], rows)


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv))
