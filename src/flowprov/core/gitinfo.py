"""Git facts about a source file: repository root, commit, remote and whether it is dirty.

One `git status` subprocess gives the commit and the dirty flag; the root and the remote are read
from files, so recording a run in a repository costs a few milliseconds.
"""

from __future__ import annotations

import configparser
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class GitInfo:
    root: Path
    commit: str | None
    remote: str | None
    dirty: bool | None


def find_git_root(start: Path) -> Path | None:
    here = start if start.is_dir() else start.parent
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _remote_url(root: Path) -> str | None:
    git = root / ".git"
    config = git / "config" if git.is_dir() else None
    if config is None or not config.exists():
        return None
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(config)
    except configparser.Error:
        return None
    section = 'remote "origin"'
    url = parser.get(section, "url", fallback=None)
    if url is None:
        remotes = [s for s in parser.sections() if s.startswith("remote ")]
        url = parser.get(remotes[0], "url", fallback=None) if remotes else None
    # never store credentials embedded in a remote URL
    return re.sub(r"//[^/@]+@", "//", url) if url else None


def git_info(path: Path) -> GitInfo | None:
    root = find_git_root(path)
    if root is None:
        return None
    commit = dirty = None
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0:
            lines = out.stdout.splitlines()
            for line in lines:
                if line.startswith("# branch.oid "):
                    oid = line.split()[-1]
                    commit = None if oid == "(initial)" else oid
            dirty = any(not line.startswith("#") for line in lines)
    except (OSError, subprocess.SubprocessError):
        pass
    return GitInfo(root=root, commit=commit, remote=_remote_url(root), dirty=dirty)
