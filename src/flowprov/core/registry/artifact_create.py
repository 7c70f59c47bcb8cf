"""lamindb's ways to make artifacts from objects and folders, and its rules for artifact keys.

`Artifact.from_dataframe(df)` writes the table into the store's default storage location (parquet
when pyarrow or fastparquet is installed, else csv), content-addressed: the file is named by its
hash, so the same table written twice is one file and one record. The default storage location is
the store's first `Storage` record (lamindb: the instance's default storage; save a
`Storage(root=DIR)` before the first object to choose it), made on first use otherwise: a directory
beside the SQLite file (`<name>_storage/`), or `$XDG_DATA_HOME/flowprov/storage` for a server store.

`Artifact.from_dir(path)` registers every file below a folder in place (keys `<folder>/<relative
path>`), unsaved, as lamindb's returns them. Keys: no `..` parts, no leading `/`, and a key's
suffix must be the file's (lamindb raises InvalidArgument for both).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from flowprov.core.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from flowprov.core.registry.artifact import Artifact
    from flowprov.core.registry.storage import Storage
    from flowprov.core.store.connection import Store


def check_key(key: str | None, suffix: str, is_dir: bool = False) -> None:
    """lamindb's key rules: a relative, normalised path whose suffix is the file's suffix."""
    if key is None:
        return
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"artifact key must be a non-empty string, got {key!r}")
    parts = PurePosixPath(key).parts
    if key.startswith("/") or ".." in parts or "." in key.split("/"):
        raise InvalidArgument(f"artifact key {key!r}: use a relative path without '.' or '..' parts or a leading '/'")
    if is_dir:
        return
    key_suffix = _key_suffix(key, suffix)
    if key_suffix != suffix:
        raise InvalidArgument(f"The suffix '{key_suffix}' of the provided key is incorrect, it should be '{suffix}'.")


def _key_suffix(key: str, suffix: str) -> str:
    name = PurePosixPath(key).name
    if suffix and name.endswith(suffix):
        return suffix
    suffixes = PurePosixPath(name).suffixes
    return suffixes[-1] if suffixes else ""


def default_storage(store: Store) -> Storage:
    """The store's default storage location: its first Storage record, made on first use."""
    from flowprov.core.registry.storage import Storage

    first = Storage.using(store).order_by("id").first()
    if first is not None:
        return first
    return Storage(root=str(default_storage_dir(store)), description="default storage").save(using=store)


def set_default_storage(store: Store, root: str | os.PathLike[str]) -> Storage:
    """`flowprov init --storage DIR`: DIR becomes the store's default storage location (its first
    Storage record); a store whose default is another directory already is refused."""
    from flowprov.core.registry.storage import Storage

    wanted = Path(root).expanduser().absolute()
    first = Storage.using(store).order_by("id").first()
    if first is None:
        wanted.mkdir(parents=True, exist_ok=True)
        return Storage(root=str(wanted), description="default storage").save(using=store)
    if Path(first.root) != wanted:
        raise ValueError(f"the store's default storage location is {first.root} already, not {wanted}")
    return first


def default_storage_dir(store: Store) -> Path:
    """Where a store without a Storage record keeps the objects flowprov writes."""
    from sqlalchemy import make_url

    from flowprov.core import paths

    url = make_url(store.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(str(url.database)).absolute()
        return database.with_name(f"{database.stem}_storage")
    return paths.data_dir() / "storage"


def from_dataframe(cls: type[Artifact], df: pd.DataFrame, key: str | None = None, **kwargs: Any) -> Artifact:
    """`Artifact.from_dataframe(df, key=..., description=..., run=..., revises=...,
    parquet_kwargs={...})` (parquet_kwargs go to `DataFrame.to_parquet`)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidArgument(f"from_dataframe() takes a pandas DataFrame, got {type(df).__name__}")
    store = cls._default_store() if kwargs.get("using") is None else kwargs.pop("using")
    storage = default_storage(store)
    root = Path(storage.root)
    root.mkdir(parents=True, exist_ok=True)
    parquet_kwargs = kwargs.pop("parquet_kwargs", None) or {}
    suffix = ".parquet" if _parquet_engine() else ".csv"
    if parquet_kwargs and suffix != ".parquet":
        raise ImportError("from_dataframe(parquet_kwargs=...) needs pyarrow (pip install pyarrow)")
    written = _write_table(df, root, suffix, parquet_kwargs)
    return cls(written, key=key, storage=storage, kind=kwargs.pop("kind", "dataset"), **kwargs)


def _parquet_engine() -> str | None:
    import importlib.util

    for engine in ("pyarrow", "fastparquet"):
        if importlib.util.find_spec(engine) is not None:
            return engine
    return None


def _write_table(df: pd.DataFrame, root: Path, suffix: str, parquet_kwargs: dict[str, Any]) -> Path:
    """Write the table beside its final place, then move it to a name given by its content hash
    (the same table written again is the same file; a crash leaves no half-written object)."""
    from flowprov.core.hashing import hash_path

    handle, tmp = tempfile.mkstemp(dir=root, prefix=".writing-", suffix=suffix)
    os.close(handle)
    try:
        if suffix == ".parquet":
            df.to_parquet(tmp, **parquet_kwargs)
        else:
            df.to_csv(tmp, index=False)
        final = root / f"{hash_path(Path(tmp)).hash}{suffix}"
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def from_dir(cls: type[Artifact], path: str | os.PathLike, key: str | None = None, **kwargs: Any) -> list[Artifact]:
    """One unsaved artifact per file below `path`, keyed `<key or folder name>/<relative path>`."""
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidArgument(f"from_dir({os.fspath(path)!r}): not a directory")
    prefix = (key or folder.resolve().name).rstrip("/")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [cls(p, key=f"{prefix}/{p.relative_to(folder).as_posix()}", **kwargs) for p in files]
