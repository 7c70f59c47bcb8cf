"""Content hashes of files and directories, lamindb-compatible where lamindb is exact.

- A file up to 50 MiB: MD5 of the whole file, hash type `md5`.
- A larger file: BLAKE3 of the whole file (`blake3`). lamindb samples only the first and last
  50 MiB there (`sha1-fl`), so an edit in the middle goes unnoticed; set
  `FLOWPROV_LARGE_FILE_HASH=sha1-fl` for exact lamindb parity.
- A directory: `md5-d`, MD5 over the sorted member hashes (each member hashed as above).

Every hash is the first 22 characters of the unpadded URL-safe base64 of the digest.

A persistent cache keyed by (path, size, mtime_ns, inode) makes re-hashing an unchanged file cost
one `stat`. It is a small SQLite file in the user cache directory (`FLOWPROV_HASH_CACHE` moves it,
`FLOWPROV_HASH_CACHE=off` turns it off).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import threading
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flowprov.core.paths import cache_dir

HASH_LENGTH = 22
SMALL_FILE_LIMIT = 50 * 1024 * 1024
READ_BLOCK = 4 * 1024 * 1024


class HashingError(OSError):
    """A file could not be hashed (missing, unreadable, or changed while being read)."""


@dataclass(frozen=True)
class ContentHash:
    hash: str
    hash_type: str
    size: int
    n_files: int | None  # None for a single file


def b64_digest(digest: bytes) -> str:
    return urlsafe_b64encode(digest).decode().rstrip("=")[:HASH_LENGTH]


def hash_text(text: str) -> str:
    """lamindb's hash of a text (a transform's source code): MD5 of its UTF-8 bytes, as above."""
    return b64_digest(hashlib.md5(text.encode()).digest())


def large_file_mode() -> str:
    mode = os.environ.get("FLOWPROV_LARGE_FILE_HASH", "blake3")
    if mode not in ("blake3", "sha1-fl"):
        raise ValueError(f"FLOWPROV_LARGE_FILE_HASH={mode!r}: use 'blake3' or 'sha1-fl'")
    return mode


class _Hasher(Protocol):
    """What _read_whole needs of a hashlib or blake3 hasher."""

    def update(self, data: memoryview, /) -> object: ...


def _read_whole(path: Path, hasher: _Hasher) -> None:
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(READ_BLOCK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            hasher.update(view[:n])


def _hash_first_last(path: Path) -> bytes:
    with open(path, "rb") as fh:
        first = fh.read(SMALL_FILE_LIMIT)
        fh.seek(-SMALL_FILE_LIMIT, os.SEEK_END)
        last = fh.read(SMALL_FILE_LIMIT)
    return hashlib.sha1(hashlib.sha1(first).digest() + hashlib.sha1(last).digest()).digest()


def hash_file_uncached(path: Path, size: int) -> tuple[str, str]:
    if size <= SMALL_FILE_LIMIT:
        hasher = hashlib.md5()
        _read_whole(path, hasher)
        return b64_digest(hasher.digest()), "md5"
    if large_file_mode() == "sha1-fl":
        return b64_digest(_hash_first_last(path)), "sha1-fl"
    import blake3

    large_hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    large_hasher.update_mmap(path) if hasattr(large_hasher, "update_mmap") else _read_whole(path, large_hasher)
    return b64_digest(large_hasher.digest()), "blake3"


def hash_from_hashes(hashes: list[str]) -> str:
    """md5-d: order-independent hash of a directory's member hashes."""
    digests = b"".join(hashlib.md5(h.encode()).digest() for h in sorted(hashes))
    return b64_digest(hashlib.md5(digests).digest())


class HashCache:
    """(path, size, mtime_ns, inode, large-file mode) -> hash, persisted in SQLite."""

    def __init__(self, location: str | None):
        self.location = location
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection | None:
        if self.location is None or getattr(self._local, "unusable", False):
            return None
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open(self.location)
            if conn is None:  # the cache only saves time: this thread hashes without it
                self._local.unusable = True
                return None
            self._local.conn = conn
        return conn

    @staticmethod
    def _open(location: str) -> sqlite3.Connection | None:
        """A connection to the cache file, or None when it stays locked (threads opening a new
        cache at once: switching it to WAL takes a lock SQLite's busy timeout does not wait for)."""
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(6):
            conn = None
            try:
                conn = sqlite3.connect(location, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS hash_cache (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                    " inode INTEGER, mode TEXT, hash TEXT, hash_type TEXT)"
                )
                return conn
            except sqlite3.OperationalError:
                if conn is not None:
                    conn.close()
                time.sleep(0.02 * 2**attempt)
        return None

    def get(self, path: str, st: os.stat_result, mode: str) -> tuple[str, str] | None:
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT size, mtime_ns, inode, mode, hash, hash_type FROM hash_cache WHERE path = ?", (path,)
            ).fetchone()
        except sqlite3.OperationalError:  # a locked or broken cache is a miss, never an error
            return None
        if row and row[:4] == (st.st_size, st.st_mtime_ns, st.st_ino, mode):
            return row[4], row[5]
        return None

    def put(self, path: str, st: os.stat_result, mode: str, value: tuple[str, str]) -> None:
        conn = self._conn()
        if conn is not None:
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO hash_cache VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (path, st.st_size, st.st_mtime_ns, st.st_ino, mode, *value),
                )
            except sqlite3.OperationalError:
                pass  # not cached this time: the next hash of the file computes it again


_cache: HashCache | None = None


def hash_cache() -> HashCache:
    global _cache
    setting = os.environ.get("FLOWPROV_HASH_CACHE")
    if setting == "off":
        location = None
    elif setting:
        location = setting
    else:
        location = str(cache_dir() / "hash-cache.db")
    if _cache is None or _cache.location != location:
        _cache = HashCache(location)
    return _cache


def _stat_or_raise(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise HashingError(f"{path}: no such file or directory") from None
    except PermissionError:
        raise HashingError(f"{path}: permission denied") from None


def hash_file(path: str | os.PathLike, st: os.stat_result | None = None) -> tuple[str, str]:
    """(hash, hash type) of one file, through the cache; refuses files that change meanwhile."""
    path = Path(path)
    st = st or _stat_or_raise(path)
    mode = large_file_mode() if st.st_size > SMALL_FILE_LIMIT else "md5"
    cache = hash_cache()
    key = str(path.absolute())
    cached = cache.get(key, st, mode)
    if cached is not None:
        return cached
    try:
        value = hash_file_uncached(path, st.st_size)
    except PermissionError:
        raise HashingError(f"{path}: permission denied") from None
    except FileNotFoundError:
        raise HashingError(f"{path}: disappeared while it was being hashed") from None
    after = _stat_or_raise(path)
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        raise HashingError(
            f"{path}: changed while it was being hashed (size {st.st_size} -> {after.st_size}); register it once it is complete"
        )
    cache.put(key, st, mode, value)
    return value


def hash_path(path: str | os.PathLike) -> ContentHash:
    """The content hash of a file or a directory (recursively, following no symlinked dirs)."""
    path = Path(path)
    st = _stat_or_raise(path)
    if stat.S_ISDIR(st.st_mode):
        hashes, total = [], 0
        for root, _dirs, files in os.walk(path):
            for name in files:
                member = Path(root) / name
                member_st = _stat_or_raise(member)
                if not stat.S_ISREG(member_st.st_mode):
                    continue
                hashes.append(hash_file(member, member_st)[0])
                total += member_st.st_size
        return ContentHash(hash_from_hashes(hashes), "md5-d", total, len(hashes))
    if not stat.S_ISREG(st.st_mode):
        raise HashingError(f"{path}: not a regular file or directory")
    value, hash_type = hash_file(path, st)
    return ContentHash(value, hash_type, st.st_size, None)
