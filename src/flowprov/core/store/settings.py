"""Which store to use, and the user's named stores.

Lookup order (the first that gives an answer wins):

1. `flowprov.connect(url_or_name)` in this process;
2. the environment variable `FLOWPROV_DB` (an SQLAlchemy URL, a file path or a named store);
3. the nearest `.flowprov/` directory upward from the working directory (made by `flowprov init`):
   its `config.toml` names a URL (`db = "postgresql://..."`), otherwise `.flowprov/flowprov.db`;
4. the per-user default, `$XDG_DATA_HOME/flowprov/default.db` (`~/.local/share/flowprov/default.db`).

Named stores live in `$XDG_CONFIG_HOME/flowprov/config.toml` (`~/.config/flowprov/config.toml`)
under `[instances]`; `flowprov instance add NAME URL` writes them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flowprov.core import paths

ENV_VAR = "FLOWPROV_DB"
PROJECT_DIR = ".flowprov"
PROJECT_DB = "flowprov.db"
PROJECT_CONFIG = "config.toml"


@dataclass(frozen=True)
class StoreChoice:
    url: str
    source: str  # "connect", "env FLOWPROV_DB", "project <dir>", "user default"


def user_config_path() -> Path:
    return paths.config_dir() / "config.toml"


def user_default_db() -> Path:
    return paths.data_dir() / "default.db"


def read_instances() -> dict[str, str]:
    path = user_config_path()
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return {str(k): str(v) for k, v in data.get("instances", {}).items()}


def write_instance(name: str, url: str) -> Path:
    """Add or replace a named store in the user config (the file holds only `[instances]`)."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"instance name {name!r}: use letters, digits, '-' and '_' only")
    instances = read_instances()
    instances[name] = url
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[instances]"] + [f"{k} = {_toml_string(v)}" for k, v in sorted(instances.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_project_dir(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / PROJECT_DIR
        if candidate.is_dir():
            return candidate
    return None


def project_url(project_dir: Path) -> str:
    config = project_dir / PROJECT_CONFIG
    if config.exists():
        with open(config, "rb") as fh:
            data = tomllib.load(fh)
        if "db" in data:
            return str(data["db"])
    return str(project_dir / PROJECT_DB)


def resolve_name_or_url(value: str) -> str:
    """A named store from the user config, else the value itself (a URL or a path)."""
    if "://" not in value and "/" not in value and not value.endswith(".db"):
        instances = read_instances()
        if value in instances:
            return instances[value]
        raise LookupError(
            f"no store named {value!r}: add it with `flowprov instance add {value} URL` "
            f"(known: {', '.join(sorted(instances)) or 'none'})"
        )
    return value


def choose_store() -> StoreChoice:
    """Steps 2-4 of the lookup order (step 1, `connect()`, is handled by the caller)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return StoreChoice(resolve_name_or_url(env), f"env {ENV_VAR}")
    project = find_project_dir()
    if project is not None:
        return StoreChoice(project_url(project), f"project {project}")
    return StoreChoice(str(user_default_db()), "user default")
