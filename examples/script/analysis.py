"""A tracked script: reads an input file, writes an output, records both with its params.

python examples/script/analysis.py data.csv summary.txt --min-value 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import flowprov as ln


def summarise(src: Path, dst: Path, min_value: float) -> int:
    values = [float(line.split(",")[1]) for line in src.read_text().splitlines()[1:] if line.strip()]
    kept = [v for v in values if v >= min_value]
    dst.write_text(f"rows={len(values)} kept={len(kept)} total={sum(kept)}\n")
    return len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--min-value", type=float, default=0.0)
    args = parser.parse_args()
    ln.track(params={"min_value": args.min_value, "input": args.input})
    ln.track_input(args.input)
    summarise(args.input, args.output, args.min_value)
    ln.track_output(args.output)
    ln.finish()


if __name__ == "__main__":
    main()
