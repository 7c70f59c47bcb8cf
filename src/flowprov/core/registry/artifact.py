"""Artifact: a file or directory some run read or wrote, registered where it lies.

Registration is in place: nothing is copied; `path` is the last known location as an absolute
URI. Identity is the content hash: saving the same bytes again returns the stored record. New
bytes under a known key (or, without a key, at a known path) become a new version of that family.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from sqlalchemy import BigInteger, ForeignKey, String, Text, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import LocationURI, UTCDateTime, utcnow
from flowprov.core.hashing import HashingError, hash_path
from flowprov.core.registry.artifact_create import check_key
from flowprov.core.registry.base import Record
from flowprov.core.registry.links import collection_artifact, run_input_artifact, run_output_artifact
from flowprov.core.registry.managers import RecreatedManager, RelatedDescriptor, insert_ignore
from flowprov.core.registry.trash import InBranch
from flowprov.core.registry.versioning import check_revises
from flowprov.core.uid import new_versioned_uid
from flowprov.core.util import chunked

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from flowprov.core.registry.lineage_graph import Lineage

# Set by the tracking layer: returns the run of the current tracking context, or None.
default_run_provider: Callable[[], Any] | None = None
# lamindb's settings.track_run_inputs: load()/open()/cache() in a tracked run record an input.
track_run_inputs = True


def path_to_uri(path: str | os.PathLike) -> str:
    return Path(path).absolute().as_uri()


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"{uri}: only local file:// artifacts can be opened here")
    return Path(unquote(parsed.path))


def _check_key_is_virtual(fields: dict[str, Any]) -> None:
    """lamindb's `key_is_virtual`: flowprov's keys are always virtual (registration is in place,
    the key never decides where the file lies), so True is accepted and False refused."""
    if "key_is_virtual" in fields and "_key_is_virtual" in fields:
        raise ValueError("Do not pass both key_is_virtual and _key_is_virtual.")
    virtual = fields.pop("key_is_virtual", fields.pop("_key_is_virtual", True))
    if not virtual:
        raise ValueError("key_is_virtual=False: flowprov registers files in place, so a key is always virtual")


def _suffix(path: Path) -> str:
    """'.fastq.gz' for reads.fastq.gz; '' for directories and names without a dot."""
    if path.is_dir():
        return ""
    suffixes = path.suffixes
    if len(suffixes) >= 2 and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst", ".zip"):
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


class Artifact(InBranch, Record):
    __tablename__ = "flowprov_artifact"
    _uid_len = 20
    _versioned = True
    _init_fields = frozenset(
        {"uid", "is_latest", "created_by", "space", "storage", "created_at", "version", "version_tag", "kind"}
    )
    # lamindb 2.x's names; `path` filters compare the stored URI
    _query_aliases = {"version_tag": "version", "overwrite_versions": "_overwrite_versions", "path": "_path"}

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    key: Mapped[str | None] = mapped_column(String(1024), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    suffix: Mapped[str] = mapped_column(String(30), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str | None] = mapped_column(String(22), index=True)
    _hash_type: Mapped[str | None] = mapped_column(String(30))
    n_files: Mapped[int | None] = mapped_column(BigInteger)
    # the last known location as an absolute URI, in the column `path`; the attribute `path` is
    # lamindb's pathlib.Path of it (a hybrid: in queries it is this column, so filters keep the URI)
    _path: Mapped[str | None] = mapped_column("path", LocationURI)
    kind: Mapped[str | None] = mapped_column(String(20))
    _overwrite_versions: Mapped[bool | None] = mapped_column()
    version: Mapped[str | None] = mapped_column(String(64))
    is_latest: Mapped[bool] = mapped_column(default=True)
    storage_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_storage.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_run.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_user.id"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_space.id"))

    storage = relationship("Storage", foreign_keys=[storage_id], cascade="")
    run = relationship("Run", foreign_keys=[run_id], cascade="")
    created_by = relationship("User", foreign_keys=[created_by_id], cascade="")
    space = relationship("Space", foreign_keys=[space_id], cascade="")
    _input_of_runs = relationship("Run", secondary=run_input_artifact, viewonly=True)
    _output_of_runs = relationship("Run", secondary=run_output_artifact, viewonly=True)
    _collections = relationship("Collection", secondary=collection_artifact, viewonly=True)

    input_of_runs = RelatedDescriptor("_input_of_runs", doc="Runs that read this artifact.")
    recreating_runs = RelatedDescriptor(
        "_output_of_runs",
        doc="Runs other than the first creator that wrote these bytes (lamindb's recreating_runs).",
        manager=RecreatedManager,
    )
    collections = RelatedDescriptor("_collections", doc="Collections this artifact belongs to.")

    def __init__(
        self,
        path: str | os.PathLike,
        key: str | None = None,
        description: str | None = None,
        run: Any = None,
        skip_hash_lookup: bool = False,
        revises: Artifact | None = None,
        **fields: Any,
    ):
        _check_key_is_virtual(fields)
        self._revises = check_revises(Artifact, revises)
        if key is None and revises is not None:
            key = revises.key
        text = os.fspath(path)
        local = Path(uri_to_path(text) if text.startswith("file://") else text)
        content = fields.pop("_content", None)
        user_made = content is None  # the Recorder passes hashes taken when the workflow ran
        overwrite_versions = fields.pop("overwrite_versions", None)
        # a remote location is recorded only with a known content hash (an imported lineage document)
        remote = "://" in text and not text.startswith("file://")
        if remote and content is None:
            raise ValueError(f"{text}: only local files and directories can be registered so far")
        if content is None:
            try:
                content = hash_path(local)
            except HashingError as exc:
                raise ValidationError({"path": [str(exc)]}) from None
        self.uid = new_versioned_uid(20)
        self.key = key
        self.description = description
        self._path = text if remote else path_to_uri(local)
        self.suffix = _suffix(local)
        if user_made:
            check_key(key, self.suffix, is_dir=content.n_files is not None)
        self.size = content.size
        self.hash = content.hash
        self._hash_type = content.hash_type
        self.n_files = content.n_files
        self.kind = None
        # lamindb: skip_hash_lookup makes a new record even for known bytes, and so does an empty
        # file given to Artifact() (all empty files share one hash). The Recorder's artifacts
        # (content given) still merge by hash: recording twice adds nothing (docs/design.md).
        empty_file = user_made and content.size == 0 and content.n_files is None
        self._skip_hash_lookup = bool(skip_hash_lookup) or empty_file
        # lamindb: a folder's new version replaces the old one's files (default for folders)
        self._overwrite_versions = content.n_files is not None if overwrite_versions is None else overwrite_versions
        self.is_latest = True
        self.created_at = utcnow()
        # run=None: the current tracking context's run, if any; run=False: no creating run.
        if run is None and default_run_provider is not None:
            run = default_run_provider()
        if run is not None and run is not False:
            self.__dict__["run"] = run
        self._set_fields(fields)

    @hybrid_property
    def path(self) -> Any:
        """lamindb's `artifact.path`: a `pathlib.Path` for a local file or folder (registered in
        place, so it is where the file lies); a remote location stays its URI string. In queries
        (`Artifact.filter(path=...)`, `Artifact.path == ...`) it is the stored URI."""
        uri = self._path
        return uri_to_path(uri) if uri is not None and uri.startswith("file://") else uri

    @path.inplace.setter
    def _set_path(self, value: str | os.PathLike[str] | None) -> None:
        text = None if value is None else os.fspath(value)
        self._path = text if text is None or "://" in text else path_to_uri(text)

    @path.inplace.expression
    @classmethod
    def _path_expression(cls) -> Any:
        return cls._path.label("path")  # selected as a column, its rows read `.path`

    @property
    def uri(self) -> str | None:
        """The stored location: an absolute URI (`file:///...`), as filters and lineage use it."""
        return self._path

    @property
    def overwrite_versions(self) -> bool:
        """lamindb's flag: True for folders, whose versions share one location (deleting the head
        deletes the family)."""
        return bool(self._overwrite_versions)

    @classmethod
    def from_dataframe(cls, df: Any, key: str | None = None, **kwargs: Any) -> Artifact:
        """An artifact of the table, written into the store's default storage location (unsaved)."""
        from flowprov.core.registry.artifact_create import from_dataframe

        return from_dataframe(cls, df, key=key, **kwargs)

    from_df = from_dataframe

    @classmethod
    def from_dir(cls, path: str | os.PathLike, key: str | None = None, **kwargs: Any) -> list[Artifact]:
        """One unsaved artifact per file below `path`, registered in place."""
        from flowprov.core.registry.artifact_create import from_dir

        return from_dir(cls, path, key=key, **kwargs)

    def clean(self) -> None:
        """A key changed on a stored artifact follows lamindb's rules (a new one was checked when made)."""
        from sqlalchemy import inspect

        state = inspect(self)
        if state.persistent and state.attrs.key.history.has_changes():
            check_key(self.key, self.suffix or "", is_dir=self.n_files is not None)

    @property
    def local_path(self) -> Path:
        """The file or directory on this machine."""
        if self._path is None:
            raise ValueError(f"artifact {self.uid} has no known location")
        return uri_to_path(self._path)

    # -- lamindb's access methods (registration is in place: the cache is the file itself) --
    def cache(self) -> Path:
        """The local path of the file or directory (lamindb's cache(); nothing is downloaded)."""
        self._track_as_input()
        return self.local_path

    def load(self, **kwargs: Any) -> Any:
        """The content in memory by suffix: csv/tsv/parquet as a DataFrame, json/yaml parsed, text."""
        from flowprov.core.registry.artifact_load import load_file

        self._track_as_input()
        return load_file(self.local_path, self.suffix, **kwargs)

    def open(self, mode: str = "r", **kwargs: Any) -> Any:
        """The file opened for reading (`mode` "r" or "rb"); writing would change registered bytes.
        A parquet file opens as lamindb's does, as a `pyarrow.dataset.Dataset` (needs pyarrow)."""
        if mode not in ("r", "rb"):
            raise ValueError(f"Artifact.open(mode={mode!r}): artifacts open read-only, use 'r' or 'rb'")
        path = self.local_path
        if self.suffix == ".parquet":
            import pyarrow.dataset  # type: ignore[import-untyped]

            self._track_as_input()
            return pyarrow.dataset.dataset(path, format="parquet", **kwargs)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory: use artifact.cache() for its path")
        self._track_as_input()
        return open(path, mode, **kwargs)  # noqa: SIM115 (the caller closes it, as with open())

    def _track_as_input(self) -> None:
        """lamindb: reading a saved artifact inside a tracked run makes it an input of that run
        (not of the run that created it)."""
        run = default_run_provider() if track_run_inputs and default_run_provider is not None else None
        if run is not None and self.id is not None and run.id is not None and run.id != self.run_id:
            run.input_artifacts.add(self)

    def _family_key(self) -> str:
        return f"key:{self.key}" if self.key is not None else f"path:{self._path}"

    def _lock_keys(self) -> list[str]:
        return [f"hash:{self.hash}", self._family_key()]

    @classmethod
    def _load_candidates(cls, session: Session, records: list[Any]) -> list[Any]:
        found: dict[int, Artifact] = {}
        for column, values in (
            (cls.hash, {r.hash for r in records}),
            (cls.key, {r.key for r in records if r.key is not None}),
        ):
            for chunk in chunked(values):
                found.update((a.id, a) for a in session.scalars(select(cls).where(column.in_(chunk))))
        for chunk in chunked({r._path for r in records if r.key is None}):
            found.update((a.id, a) for a in session.scalars(select(cls).where(cls.key.is_(None), cls._path.in_(chunk))))
        return sorted(found.values(), key=lambda a: a.id)

    def _content_key(self) -> tuple[str | None, str | None]:
        return (self.hash, self._hash_type)

    def _seen_again(self, existing: Artifact) -> None:
        """The same bytes registered at another place: `path` is the last known location."""
        if self._path and existing._path != self._path and existing.id is not None:
            existing._path = self._path

    def _match(self, family: list, by_content: dict) -> Artifact | None:
        """Identity is content: the first stored artifact with the same hash (unless skipped)."""
        if getattr(self, "_skip_hash_lookup", False):
            return None
        return by_content.get(self._content_key())

    def save_base(self, *args: Any, **kwargs: Any) -> Artifact:
        """Write the record. A new artifact saved with a run (or in a tracked run) is linked as
        that run's output at this path, also when its bytes were already stored; a stored one
        given a creating run is linked as its output unless that run already has a link to it."""
        from sqlalchemy import inspect

        new = inspect(self).transient
        run = self.__dict__.get("run") if new else None
        path = self._path
        store = self._target_store(kwargs.get("using"))
        with store.transaction() as session:
            saved = super().save_base(*args, **kwargs)
            if run is not None and run.id is not None and saved.id is not None:
                link_outputs(session, [(run.id, saved.id, path)])
            elif not new and saved.run_id is not None:
                linked = select(run_output_artifact.c.run_id).where(
                    run_output_artifact.c.run_id == saved.run_id, run_output_artifact.c.artifact_id == saved.id
                )
                if session.execute(linked.limit(1)).first() is None:
                    link_outputs(session, [(saved.run_id, saved.id, saved._path)])
        return saved

    def view_lineage(self, direction: str = "upstream", depth: int | None = None) -> Lineage:
        """The lineage graph: Mermaid text when printed, a diagram in Jupyter (Graphviz if installed)."""
        from flowprov.core.registry.lineage import walk

        return walk(self, direction, depth)


def link_outputs(session: Any, rows: list[tuple[int, int, str | None]], when: datetime | None = None) -> None:
    """Record that runs wrote artifacts at paths: (run id, artifact id, path) rows, kept once each."""
    at = when or utcnow()
    insert_ignore(
        session,
        run_output_artifact,
        [{"run_id": r, "artifact_id": a, "path": p or "", "written_at": at} for r, a, p in rows],
    )
