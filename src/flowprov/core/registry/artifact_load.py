"""`Artifact.load()`: read a registered file into memory by its suffix (lamindb's loaders).

pandas, PyYAML and pyarrow load inside the loader that needs them (light imports).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEXT_SUFFIXES = (".txt", ".md", ".log", ".html", ".htm", ".nf", ".py", ".r", ".sh", ".smk", ".config")


def _load_csv(path: Path, **kwargs: Any) -> Any:
    import pandas as pd

    return pd.read_csv(path, **kwargs)


def _load_tsv(path: Path, **kwargs: Any) -> Any:
    import pandas as pd

    return pd.read_csv(path, sep="\t", **kwargs)


def _load_parquet(path: Path, **kwargs: Any) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(path, **kwargs)
    except ImportError as exc:
        raise ImportError(f"{path}: loading parquet needs pyarrow (pip install pyarrow)") from exc


def _load_json(path: Path, **kwargs: Any) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, **kwargs)


def _load_yaml(path: Path, **kwargs: Any) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ImportError(f"{path}: loading YAML needs PyYAML (pip install pyyaml)") from exc
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _load_text(path: Path, **kwargs: Any) -> Any:
    return path.read_text(encoding=kwargs.get("encoding", "utf-8"))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")


def _load_image(path: Path, **kwargs: Any) -> Any:
    """lamindb's image loader: shown in a notebook (IPython, when it is running), the path returned."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        from IPython.display import SVG, Image, display

        display(SVG(filename=str(path)) if path.suffix.lower() == ".svg" else Image(filename=str(path)))
    return path


LOADERS: dict[str, Callable[..., Any]] = {
    ".csv": _load_csv,
    ".tsv": _load_tsv,
    ".parquet": _load_parquet,
    ".json": _load_json,
    ".yaml": _load_yaml,
    ".yml": _load_yaml,
    **{suffix: _load_text for suffix in TEXT_SUFFIXES},
    **{suffix: _load_image for suffix in IMAGE_SUFFIXES},
}


def load_file(path: Path, suffix: str, **kwargs: Any) -> Any:
    """The file's content: a DataFrame (csv, tsv, parquet), parsed JSON/YAML, text, or for an image
    its path (displayed first when IPython runs)."""
    if path.is_dir():
        raise NotImplementedError(f"{path} is a directory: use artifact.cache() for its path")
    if not path.exists():
        raise FileNotFoundError(f"{path}: the artifact's file is no longer there (it was registered in place)")
    loader = LOADERS.get(suffix.lower())
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise NotImplementedError(f"{path}: no loader for suffix {suffix!r} (known: {known}); use artifact.cache()")
    return loader(path, **kwargs)
