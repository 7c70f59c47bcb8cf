"""`flowprov.diff` is loaded lazily and is callable both as `flowprov.diff(...)` and after `import flowprov.diff`."""

from __future__ import annotations

import subprocess
import sys


def test_import_flowprov_does_not_load_the_diff_package():
    code = (
        "import sys, flowprov; print('flowprov.diff' in sys.modules, 'rich' in sys.modules, 'difflib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and out[1] == "False"


def test_diff_is_callable_before_and_after_importing_the_package():
    code = (
        "import flowprov\n"
        "f = flowprov.diff\n"
        "import flowprov.diff\n"
        "from flowprov.diff import RunDiff, diff\n"
        "print(callable(f), callable(flowprov.diff), flowprov.diff is f, diff.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True", "diff"]
