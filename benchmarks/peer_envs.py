"""The virtual environments the peers run in: `benchmarks/.venvs/<tool>`, installed from PyPI.

flowprov runs with the interpreter that runs the benchmarks (the project's .venv). A peer's
environment is (re)installed when it is missing or its requirements changed (a stamp file holds
the requirements it was built from).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
PEER_SCRIPTS = HERE / "peers"

REQUIREMENTS: dict[str, list[str]] = {
    "lamindb": ["lamindb>=2.12"],
    "mlflow": ["mlflow-skinny", "sqlalchemy", "alembic", "pandas"],
}
TOOLS = ["flowprov", *REQUIREMENTS]


def _stamp(tool: str) -> Path:
    return VENVS / tool / ".bench-requirements"


def python_for(tool: str) -> Path | None:
    """The interpreter that runs this tool's peer, or None when its environment is not installed."""
    if tool == "flowprov":
        return Path(sys.executable)
    python = VENVS / tool / "bin" / "python"
    stamp = _stamp(tool)
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(REQUIREMENTS[tool]):
        return python
    return None


def ensure_env(tool: str) -> Path:
    """Install the tool's environment if needed; return its interpreter."""
    python = python_for(tool)
    if python is not None:
        return python
    env = VENVS / tool
    print(f"installing {tool} into {env} ({' '.join(REQUIREMENTS[tool])}) ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *REQUIREMENTS[tool]], check=True)
    _stamp(tool).write_text("\n".join(REQUIREMENTS[tool]))
    return env / "bin" / "python"


def peer_script(tool: str) -> Path:
    return PEER_SCRIPTS / f"peer_{tool}.py"
