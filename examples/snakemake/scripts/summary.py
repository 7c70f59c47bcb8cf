"""Collect the per-sample word counts into one table (run by Snakemake's `script:`)."""

from pathlib import Path

rows = [f"{Path(p).stem}\t{Path(p).read_text().strip()}" for p in snakemake.input]  # noqa: F821 (set by Snakemake)
Path(snakemake.output[0]).write_text("sample\twords\n" + "\n".join(rows) + "\n")  # noqa: F821
