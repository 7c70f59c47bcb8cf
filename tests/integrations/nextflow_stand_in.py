"""A stand-in `nextflow` executable for tests: Nextflow itself cannot be installed here (its
launcher downloads the engine), so this writes what `nextflow run` leaves behind, in the real
formats: a trace (-with-trace), a `.nextflow/history` line, and an exit code."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path

SESSION = "12345678-1234-1234-1234-123456789abc"

STAND_IN = textwrap.dedent('''\
    #!{python}
    """A stand-in for `nextflow`: writes a real-format trace, history line and log, then exits."""
    import sys, os, time
    args = sys.argv[1:]
    def value(opt):
        return args[args.index(opt) + 1] if opt in args else None
    name, trace = value("-name"), value("-with-trace")
    session = "12345678-1234-1234-1234-123456789abc"
    os.makedirs(".nextflow", exist_ok=True)
    with open(trace, "w") as fh:
        fh.write("task_id\\thash\\tnative_id\\tname\\tstatus\\texit\\tsubmit\\tduration\\trealtime\\t%cpu\\tpeak_rss\\tpeak_vmem\\trchar\\twchar\\n")
        fh.write("1\\tab/cdef12\\t101\\tSAY_HELLO (1)\\tCOMPLETED\\t0\\t2026-11-27 10:00:00.000\\t1.2s\\t519ms\\t98.5%\\t29.8 MB\\t1 GB\\t912 B\\t0\\n")
        status = "FAILED" if "--fail" in args else "COMPLETED"
        fh.write(f"2\\tcd/ef1234\\t102\\tSAY_HELLO (2)\\t{{status}}\\t{{1 if status == 'FAILED' else 0}}\\t2026-11-27 10:00:01.000\\t1s\\t1s\\t100%\\t1 MB\\t1 MB\\t0\\t0\\n")
    with open(".nextflow/history", "a") as fh:
        fh.write(f"2026-11-27 10:00:00\\t3s\\t{{name}}\\t{{'ERR' if '--fail' in args else 'OK'}}\\t{{'a' * 40}}\\t{{session}}\\tnextflow {{' '.join(args)}}\\n")
    print("N E X T F L O W  ~  stand-in", flush=True)
    sys.exit(1 if "--fail" in args else 0)
''')


def install_stand_in(bin_dir: Path) -> Path:
    """Write the stand-in as `bin_dir/nextflow`; returns `bin_dir` (put it first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "nextflow"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir
