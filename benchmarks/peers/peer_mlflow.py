"""MLflow's side of the side-by-side benchmark (run with benchmarks/.venvs/mlflow: mlflow-skinny,
SQLAlchemy, Alembic, pandas), on a `sqlite:///` tracking store with a local artifact directory.

MLflow has no run reference field: the reference goes in tags (`reference`, `reference_type`),
params are MLflow params (stored as strings). It has no bulk run creation and no artifact lineage;
the lineage walk follows `mlflow.parentRunId` tags (nested runs), the nearest thing it records.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peer_base import REFERENCE_TYPE, Peer, main, run_params, run_reference

EXPERIMENT = "bench"


class MlflowPeer(Peer):
    name = "mlflow"

    def __init__(self, store: Path) -> None:
        super().__init__(store)
        self.uri = f"sqlite:///{store / 'mlflow.db'}"
        self.artifact_root = (store / "artifacts").as_uri()
        os.environ["MLFLOW_TRACKING_URI"] = self.uri

    def version(self) -> str:
        from importlib.metadata import version

        return version("mlflow-skinny")

    def init_store(self) -> None:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root)

    def connect(self) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.mlflow = mlflow
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.client.search_experiments(max_results=1)

    def open_transform(self) -> None:
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        self.experiment_id = (
            experiment.experiment_id
            if experiment
            else self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root)
        )

    def create_run(self, i: int) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id, tags={"reference": run_reference(i), "reference_type": REFERENCE_TYPE}
        )
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in run_params(i).items()])

    def track_finish(self) -> None:
        self.mlflow.set_experiment("script")
        self.mlflow.start_run()
        self.mlflow.end_run()

    def prepare_register_file(self) -> None:
        self.open_transform()
        self.register_run_id = self.client.create_run(self.experiment_id).info.run_id

    def register_file(self, path: Path) -> None:
        self.client.log_artifact(self.register_run_id, str(path))

    def _search(self, filter_string: str) -> Any:
        self.open_transform()
        return self.mlflow.search_runs(
            experiment_ids=[self.experiment_id], filter_string=filter_string, max_results=100_000
        )

    def runs_by_reference(self, reference: str) -> Any:
        return self._search(f"tags.reference = '{reference}'")

    def runs_by_param(self, group: str) -> Any:
        return self._search(f"params.group = '{group}'")

    def build_chain(self, depth: int, workdir: Path) -> Any:
        self.open_transform()
        parent = None
        for i in range(depth):
            tags = {"mlflow.runName": f"step {i}"}
            if parent is not None:
                tags["mlflow.parentRunId"] = parent
            parent = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        return parent

    def walk_lineage(self, start: Any) -> int:
        found, run_id = 0, start
        while run_id:
            run = self.client.get_run(run_id)
            found += 1
            run_id = run.data.tags.get("mlflow.parentRunId")
        return found

    def count_runs(self) -> int:
        return len(self._search(f"tags.reference_type = '{REFERENCE_TYPE}'"))


if __name__ == "__main__":
    main(MlflowPeer)
