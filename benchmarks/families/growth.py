"""Growth: ingestion throughput and query latency at 1x, 10x and 100x the data.

Data = executions x metrics x list length. Each level records its executions
(every execution: `metrics` scalars recorded length/100 times, and `metrics`
lists of `length` values) through the real pipeline, then times the queries:
the first (cold) answer of execution-scoped queries, which the API caches,
and the median of the repeated (warm) ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from benchmarks.harness import dataset
from benchmarks.harness.runner import Measurement, Scale, measure, percentile
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.settings import ClientSettings
from tests.support.services import BenchStack

FAMILY: Final = "growth"
# (label, executions, metrics per execution, list length): 20k, 200k, 2M list values.
LEVELS: Final = (("1x", 2, 10, 1000), ("10x", 5, 20, 2000), ("100x", 10, 40, 5000))
QUERY_RUNS: Final = 7


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Per level: values/s end to end; median ms of three queries."""
    found: list[Measurement] = []
    settings = ClientSettings(token=stack.token, api_url=stack.api_url)
    with MetricsClient(settings) as client:
        for label, executions, metrics, length in LEVELS:
            length = scale.count(length, minimum=10)
            shape = f"{executions} exec x {metrics} metrics x {length} values"
            rates: list[float] = []
            queries: dict[str, list[float]] = {}
            for _ in range(scale.repeats):
                tag = dataset.unique(f"g{label}")
                specs = [
                    dataset.execution(
                        f"{tag}-{e}",
                        f"{tag}-p",
                        scalars=metrics,
                        names=f"{tag}-m",
                        rounds=max(1, length // 100),
                        lists=metrics,
                        list_len=length,
                    )
                    for e in range(executions)
                ]
                scalar_events, values = dataset.events(specs)
                rates.append((scalar_events + values) / dataset.ingest(stack, specs))
                for name, ms in _queries(client, tag, specs[0]["id"], executions).items():
                    queries.setdefault(name, []).append(ms)
            found.append(measure(FAMILY, f"{label} ingest", rates, "events+values/s", note=shape))
            found.extend(
                measure(FAMILY, f"{label} {name}", samples, "ms", higher_is_better=False)
                for name, samples in queries.items()
            )
    return found


def _queries(client: MetricsClient, tag: str, eid: str, executions: int) -> dict[str, float]:
    cases: dict[str, Callable[[], list[Any]]] = {
        "get_metrics(execution_id)": lambda: client.get_metrics(execution_id=eid),
        "get_metrics(name)": lambda: client.get_metrics(name=f"{tag}-m0"),
        "get_list_metrics(execution_id)": lambda: client.get_list_metrics(execution_id=eid),
    }
    if len(cases["get_metrics(name)"]()) != executions:
        raise RuntimeError(f"{tag}: get_metrics(name) does not find all {executions} executions")
    medians = {}
    for name, query in cases.items():
        costs: list[float] = []
        for _ in range(QUERY_RUNS):
            start = time.perf_counter()
            query()
            costs.append((time.perf_counter() - start) * 1000)
        if "execution_id" in name:  # the API caches these: the first answer is the cold one
            medians[f"{name} cold"] = costs[0]
        medians[name] = percentile(costs[1:], 50)
    return medians
