"""A Prefect flow recorded by flowprov: `@tracked` goes above `@flow`.

    python examples/prefect/etl.py data.csv            # against your Prefect server / PREFECT_API_URL

Each run records the flow run, one child run per task run (the mapped ones too), the parameters
(with the secret redacted), the input file and the returned output file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr

import flowprov as ln
from flowprov.integrations.prefect import tracked
from prefect import flow, task


@task
def parse_rows(path: Path) -> list[float]:
    return [float(line.split(",")[1]) for line in path.read_text().splitlines()[1:] if line.strip()]


@task
def scale(value: float, factor: float) -> float:
    return value * factor


@task
def write_summary(values: list[float], dst: Path) -> Path:
    dst.write_text(f"n={len(values)} total={sum(values):.2f}\n")
    ln.track_output(dst)  # attaches the file to this task run
    return dst


DEMO_TOKEN = SecretStr("never-stored")  # a secret parameter: recorded as "***"


@tracked
@flow(log_prints=True)
def etl(input_path: Path, factor: float = 2.0, api_token: SecretStr = DEMO_TOKEN) -> Path:
    rows = parse_rows(input_path)
    scaled = scale.map(rows, factor)
    return write_summary([s.result() for s in scaled], input_path.with_suffix(".summary.txt"))


if __name__ == "__main__":
    print(etl(Path(sys.argv[1])))
