"""`flowprov diff` on Nextflow launches: the real `-resume` pair of scisoseq, and a generated pair of
launches with work dirs whose UPPER process runs a different script."""

from __future__ import annotations

from pathlib import Path

import flowprov as ln
from tests.diff.helpers import check_golden
from tests.integrations.test_nextflow import DATA, _command_run, _work, ingest_quietly

SESSION = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def test_resume_pair(store, tmp_path):
    """scisoseq was resumed: 6 CACHED tasks reuse the first launch's runs, 2 tasks are new (one failed)."""
    rows = (DATA / "scisoseq_trace.txt").read_text().splitlines()
    first = tmp_path / "first" / "trace.txt"
    first.parent.mkdir()
    first.write_text(
        "\n".join([rows[0]] + [r.replace("\tCACHED\t", "\tCOMPLETED\t") for r in rows[1:] if "\tCACHED\t" in r]) + "\n"
    )
    ingest_quietly(first, session_id=SESSION, run_name="happy_hopper", pipeline="nf-core/scisoseq", timezone="UTC")
    ingest_quietly(
        DATA / "scisoseq_trace.txt",
        session_id=SESSION,
        run_name="sad_turing",
        pipeline="nf-core/scisoseq",
        timezone="UTC",
    )
    d = ln.diff("sad_turing")  # one argument: the previous launch of the same pipeline
    data = d.to_dict()
    assert (data["a"]["name"], data["b"]["name"]) == ("happy_hopper", "sad_turing")
    assert list(data["layers"]) == ["children", "facts"]
    children = data["layers"]["children"]
    assert children["counts"] == {"same": 6, "added": 2, "rerun": 0, "cached": 6}
    assert [(e["name"], e["change"], e["b"]["status"]) for e in children["entries"]] == [
        ("collate_results (1)", "added", "errored"),
        ("get_software_versions", "added", "completed"),
    ]
    assert [(e["field"], e["a"], e["b"]) for e in data["layers"]["facts"]["entries"]] == [
        ("status", "completed", "errored")
    ]
    assert data["why"] == []  # no file of the launch changed bytes
    full = d.to_dict(all=True)["layers"]["children"]["entries"]
    assert sorted(e["name"] for e in full if e["b"] and e["b"]["cached"]) == [
        "align_reads (mapping : pacbio_exp1.ccs)",
        "collapse_isoforms (1)",
        "correct_annotate (1)",
        "demux (primer removal: pacbio_exp1.ccs)",
        "filter (1)",
        "run_refine (refining : pacbio_exp1.ccs)",
    ]
    assert d.changed
    check_golden("nextflow_resume", data, tmp_path)


def _launch(root: Path, script: str, hashes: tuple[str, str], realtime: int) -> Path:
    """A launch dir with two tasks: UPPER (runs `script` on data/raw.txt) and REVERSE (reverses its output)."""
    raw = root / "data" / "raw.txt"
    raw.parent.mkdir(parents=True)
    raw.write_text("raw reads\n")
    upper_text = "RAW READS\n" if "sed" not in script else "RAW DATA\n"
    w1, w2 = _work(root, hashes[0]), _work(root, hashes[1])
    (w1 / ".command.sh").write_text(f"#!/bin/bash\n{script}\n")
    (w1 / ".command.run").write_text(_command_run([(str(raw), "raw.txt")]))
    (w1 / "raw.txt").symlink_to(raw)
    (w1 / "upper.txt").write_text(upper_text)
    (w1 / ".command.trace").write_text(f"nextflow.trace/v2\nrealtime={realtime}\n%cpu=983\npeak_rss=2048\n")
    (w2 / ".command.sh").write_text("#!/bin/bash\nrev upper.txt > final.txt\n")
    (w2 / ".command.run").write_text(_command_run([(str(w1 / "upper.txt"), "upper.txt")]))
    (w2 / "upper.txt").symlink_to(w1 / "upper.txt")
    (w2 / "final.txt").write_text(upper_text.strip()[::-1] + "\n")
    trace = root / "trace.txt"
    trace.write_text(
        "task_id\thash\tname\tstatus\texit\tsubmit\tworkdir\n"
        f"1\t{hashes[0][:2]}/{hashes[0][2:8]}\tUPPER (1)\tCOMPLETED\t0\t2026-01-01 10:00:00.000\t{w1}\n"
        f"2\t{hashes[1][:2]}/{hashes[1][2:8]}\tREVERSE (1)\tCOMPLETED\t0\t2026-01-01 10:00:05.000\t{w2}\n"
    )
    return trace


def test_pair_differing_in_one_process_script(store, tmp_path):
    trace_a = _launch(tmp_path / "a", "tr a-z A-Z < raw.txt > upper.txt", ("ab" + "1" * 30, "cd" + "2" * 30), 1200)
    trace_b = _launch(
        tmp_path / "b", "tr a-z A-Z < raw.txt | sed s/READS/DATA/ > upper.txt", ("ef" + "3" * 30, "01" + "4" * 30), 3000
    )
    [ra] = ingest_quietly(
        trace_a,
        session_id="11111111-2222-3333-4444-555555555555",
        run_name="first_go",
        pipeline="main.nf",
        timezone="UTC",
    )
    [rb] = ingest_quietly(
        trace_b,
        session_id="66666666-7777-8888-9999-000000000000",
        run_name="second_go",
        pipeline="main.nf",
        timezone="UTC",
    )
    d = ln.diff("first_go", "second_go")
    data = d.to_dict()
    assert list(data["layers"]) == ["files", "children", "facts"]
    outputs = data["layers"]["files"]["outputs"]
    assert [(f["name"], f["change"]) for f in outputs] == [
        ("work/01/444444444444444444444444444444/final.txt", "changed"),
        ("work/ef/333333333333333333333333333333/upper.txt", "changed"),
    ]
    upper = outputs[1]
    assert "-RAW READS\n+RAW DATA\n" in upper["text_diff"]  # both versions are still on disk
    steps = {e["name"]: e for e in data["layers"]["children"]["entries"]}
    assert steps["UPPER (1)"]["differences"] == ["code", "outputs"]
    assert steps["UPPER (1)"]["code"]["what"] == "command_sh"
    assert "+tr a-z A-Z < raw.txt | sed s/READS/DATA/ > upper.txt" in steps["UPPER (1)"]["code"]["diff"]
    assert steps["REVERSE (1)"]["differences"] == ["inputs", "outputs"]
    assert data["layers"]["facts"]["metrics"] == [
        {"step": "UPPER (1)", "metric": "realtime_ms", "a": 1200, "b": 3000, "ratio": 2.5}
    ]
    assert sorted(c["text"] for w in data["why"] for c in w["chains"]) == [
        "work/01/444444444444444444444444444444/final.txt changed ← REVERSE (1) re-ran"
        " ← work/ef/333333333333333333333333333333/upper.txt changed ← UPPER (1) re-ran ← code of UPPER (1) changed",
        "work/ef/333333333333333333333333333333/upper.txt changed ← UPPER (1) re-ran ← code of UPPER (1) changed",
    ]
    assert ln.diff(ra.run, rb.run, metrics_threshold=3).layer("facts")["metrics"] == []
    check_golden("nextflow_script", data, tmp_path)
