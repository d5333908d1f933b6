"""Peer: MLflow (mlflow-skinny, SQLite backend in a temp dir) on the scalar workload.

`log_metric` is one synchronous SQLite transaction per call; `log_batch` sends
up to 1,000 metrics per call. Both run in a child process
(`benchmarks.children.mlflow_peer`), bounded in time.
"""

from __future__ import annotations

from typing import Final

from benchmarks.children import MLFLOW_PEER
from benchmarks.harness.runner import Measurement, Scale, measure, repeat, run_child

FAMILY: Final = "peers"
BATCH: Final = 1_000


def run(scale: Scale) -> list[Measurement]:
    """Measure MLflow `log_metric` and `log_batch` metrics/s (medians of repeats)."""
    spec = {
        "calls": scale.count(2_000, minimum=10),
        "batch_metrics": scale.count(20_000, minimum=BATCH),
        "seconds": min(scale.seconds, 5.0),
    }
    runs = repeat(scale.repeats, lambda: run_child(MLFLOW_PEER, spec, timeout=180))
    note = "mlflow-skinny, SQLite backend, scalar workload, child process"
    return [
        measure(FAMILY, "mlflow log_metric", runs["log_metric_per_s"], "metrics/s", note=note),
        measure(FAMILY, "mlflow log_batch(1000)", runs["log_batch_per_s"], "metrics/s", note=note),
    ]
