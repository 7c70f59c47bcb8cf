"""`flowprov diff` on a tracked script run twice, with a package upgraded in between.

The package is real and tiny: two versions of a one-file wheel built here (a wheel is a zip with
a dist-info folder), installed and then upgraded with pip (`--no-index`, no network) in a throwaway
virtual environment that sees the test environment's packages through a .pth file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import flowprov as ln
from tests.diff.helpers import check_golden

SCRIPT = """
from pathlib import Path
import flowprov as ln
import tinypkg

ln.track(params={"scale": 2})
ln.track_input("data.txt")
Path("result.txt").write_text(tinypkg.shout(Path("data.txt").read_text()))
ln.track_output("result.txt")
ln.finish()
"""


def build_wheel(folder: Path, version: str, body: str) -> Path:
    """tinypkg-<version>-py3-none-any.whl with one module."""
    files = {
        "tinypkg.py": body,
        f"tinypkg-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
        f"tinypkg-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text.encode())}"
        for name, text in files.items()
    ]
    files[f"tinypkg-{version}.dist-info/RECORD"] = "\n".join([*record, f"tinypkg-{version}.dist-info/RECORD,,"]) + "\n"
    wheel = folder / f"tinypkg-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def make_venv(folder: Path) -> Path:
    """A venv whose site-packages links the test environment's (flowprov and its dependencies)."""
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # addsitedir (not a plain path line) so the editable install's own .pth files are read too
    line = f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    (Path(site) / "test_env.pth").write_text(line)
    return python


def pip_install(python: Path, wheel: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-index",
        "--upgrade",
        str(wheel),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)


def installed_tinypkg(python: Path) -> str:
    code = "from importlib.metadata import version; print(version('tinypkg'))"
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def run_script(root: Path, python: Path, store_url: str) -> None:
    env = {**os.environ, "FLOWPROV_DB": store_url}
    env.pop("FLOWPROV_INITIATED_BY_RUN", None)
    result = subprocess.run(
        [str(python), "analysis.py"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_package_upgrade_between_two_runs(store_url, tmp_path):
    root, wheels = tmp_path / "project", tmp_path / "wheels"
    for folder in (root, wheels):
        folder.mkdir()
    python = make_venv(tmp_path / "venv")
    (root / "analysis.py").write_text(SCRIPT)
    (root / "data.txt").write_text("hello\n")
    pip_install(python, build_wheel(wheels, "1.0", "def shout(text):\n    return text.upper()\n"))
    run_script(root, python, store_url)
    pip_install(python, build_wheel(wheels, "2.0", "def shout(text):\n    return text.upper() + '!'\n"))
    assert installed_tinypkg(python) == "2.0"
    run_script(root, python, store_url)
    ln.connect(store_url)
    a, b = ln.Run.filter(transform__key="analysis.py").order_by("id").list()
    d = ln.diff(str(root / "result.txt"))  # the file the second run wrote, compared with the run before
    data = d.to_dict()
    assert (data["a"]["uid"], data["b"]["uid"]) == (a.uid, b.uid)
    assert list(data["layers"]) == ["environment", "files"]
    env = data["layers"]["environment"]
    assert env["entries"] == [{"package": "tinypkg", "change": "upgraded", "a": "1.0", "b": "2.0"}]
    assert env["environment"]["change"] == "changed"
    files = data["layers"]["files"]
    assert files["inputs"] == []  # data.txt: same bytes
    [result] = files["outputs"]
    assert (result["name"], result["change"]) == ("result.txt", "changed")
    assert [c["text"] for w in data["why"] for c in w["chains"]] == ["result.txt changed ← package tinypkg 1.0 → 2.0"]
    data["layers"]["environment"]["environment"].update(a="<hash>", b="<hash>")  # the machine's package list
    check_golden("script_package_upgrade", data, tmp_path)
