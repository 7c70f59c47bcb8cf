"""lamindb's `Transform.from_path(path)` and `Transform.from_git(url, path)`: a transform whose
source is a file, or a file at a commit of a git repository (a local clone: nothing is fetched).

Keys: `from_path` uses the file's path relative to its git root, else to the working directory
(the same key `track()` gives a script); `from_git` uses `<owner>/<repository>/<path>` from the
repository's URL, as lamindb does. Both return unsaved transforms (the stored one when its key and
source are stored already, see registry/construction.py).

The git facts come from `core/gitinfo.py`, a leaf module every layer may use.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.exceptions import InvalidArgument

if TYPE_CHECKING:
    from flowprov.core.registry.transform import Transform

KIND_BY_SUFFIX = {".ipynb": "notebook", ".py": "script", ".R": "script", ".r": "script", ".sh": "script"}
PIPELINE_SUFFIXES = (".nf", ".smk", ".wdl", ".cwl")


def from_path(cls: type[Transform], path: str | os.PathLike, key: str | None = None, **kwargs: Any) -> Transform:
    from flowprov.core.gitinfo import find_git_root

    file = Path(path).resolve()
    if not file.is_file():
        raise InvalidArgument(f"Transform.from_path({os.fspath(path)!r}): no such file")
    if key is None:
        root = find_git_root(file)
        base = next((b for b in (root, Path.cwd().resolve()) if b is not None and file.is_relative_to(b)), None)
        key = file.relative_to(base).as_posix() if base is not None else file.as_posix()
    kind = kwargs.pop("kind", None) or _kind_of(file)
    return cls(key=key, kind=kind, source_code=file.read_text(errors="replace"), **kwargs)


def _kind_of(file: Path) -> str:
    if file.name == "Snakefile" or file.suffix in PIPELINE_SUFFIXES:
        return "pipeline"
    return KIND_BY_SUFFIX.get(file.suffix, "script")


def from_git(
    cls: type[Transform],
    url: str | os.PathLike,
    path: str,
    key: str | None = None,
    version: str | None = None,
    entrypoint: str | None = None,
    branch: str | None = None,
    **kwargs: Any,
) -> Transform:
    """A transform for `path` in the git clone at `url` (a directory or a file:// URL), at
    `version` (a tag or commit; default: the checked-out commit), or sliding on `branch`."""
    clone = _local_clone(url)
    repo = _repository_url(clone)
    commit = _git(clone, "rev-parse", f"{version or branch or 'HEAD'}^{{commit}}")
    if _git(clone, "cat-file", "-t", f"{commit}:{path}", check=False) != "blob":
        raise InvalidArgument(f"Transform.from_git: {path!r} is not a file of {repo} at {version or 'HEAD'}")
    lines = [f"repo: {repo}", f"path: {path}"]
    if entrypoint:
        lines.append(f"entrypoint: {entrypoint}")
    lines.append(f"branch: {branch}" if branch else f"commit: {commit}")
    reference = f"{repo}/tree/{branch}/{path}" if branch else f"{repo}/blob/{commit}/{path}"
    if key is None:
        key = "/".join([*repo.rstrip("/").removesuffix(".git").split("/")[-2:], path])
    return cls(
        key=key,
        kind=kwargs.pop("kind", "pipeline"),
        version=version,
        source_code="\n".join(lines) + "\n",
        reference=reference,
        reference_type="url",
        **kwargs,
    )


def _local_clone(url: str | os.PathLike) -> Path:
    text = os.fspath(url)
    local = Path(text.removeprefix("file://"))
    if not (local / ".git").exists() and not (local / "HEAD").exists():
        raise InvalidArgument(
            f"Transform.from_git({text!r}): flowprov reads a local clone; clone the repository and pass its directory"
        )
    return local


def _repository_url(clone: Path) -> str:
    """The clone's origin (credentials removed), else the clone's own location."""
    from flowprov.core.gitinfo import _remote_url

    remote = _remote_url(clone)
    if remote:
        return remote.removesuffix(".git")
    return clone.resolve().as_uri()


def _git(clone: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise InvalidArgument(f"Transform.from_git: git {' '.join(args)} failed in {clone}: {done.stderr.strip()}")
    return done.stdout.strip()
