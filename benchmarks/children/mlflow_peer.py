"""Child of the `mlflow` family: MLflow `log_metric` and `log_batch` in a temp SQLite store.

Run as `python -m benchmarks.children.mlflow_peer <spec-json>`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from benchmarks.families.mlflow_peer import BATCH
from benchmarks.harness.runner import child_main

METRIC_NAMES: Final = 50


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Metric

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        client = mlflow.MlflowClient()
        run_id = client.create_run(client.create_experiment("bench")).info.run_id
        seconds = float(spec["seconds"])
        start = time.perf_counter()
        done = 0
        while done < spec["calls"] and time.perf_counter() - start < seconds:
            client.log_metric(run_id, f"m{done % METRIC_NAMES}", float(done), step=done)
            done += 1
        per_call = done / (time.perf_counter() - start)
        ts_ms = int(time.time() * 1000)
        start = time.perf_counter()
        sent = 0
        while sent < spec["batch_metrics"] and time.perf_counter() - start < seconds:
            batch = [
                Metric(f"m{(sent + i) % METRIC_NAMES}", float(sent + i), ts_ms, sent + i)
                for i in range(BATCH)
            ]
            client.log_batch(run_id, metrics=batch)
            sent += BATCH
        per_batch = sent / (time.perf_counter() - start)
    return {"log_metric_per_s": per_call, "log_batch_per_s": per_batch}


if __name__ == "__main__":
    child_main(_child)
