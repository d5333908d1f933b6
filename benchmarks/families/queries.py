"""Queries: the query library (`MetricsClient`, over the reader API) and API queries/s.

The dataset is recorded through the real pipeline first (step -> broker ->
worker -> Redis), then each query is repeated; medians and p99 are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, Final
from urllib.parse import urlencode

from benchmarks.children import FACADE, HTTP_LOAD
from benchmarks.harness import dataset
from benchmarks.harness.runner import Measurement, Scale, measure, percentile, repeat, run_child
from stepmetrics.producers.events import MAX_LIST_VALUES
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.paging import METRICS_PATH
from stepmetrics.store.settings import ClientSettings
from tests.support.services import BenchStack

FAMILY: Final = "queries"
SMALL_SCALARS: Final = 20
CONNECTIONS: Final = 16
COLD_COPIES: Final = 5


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Median/p99 ms per filter and of a full list; API queries/s (small queries)."""
    tag = dataset.unique("q")
    scalars, length, spread = (
        scale.count(1000, 10),
        scale.count(MAX_LIST_VALUES, 100),
        scale.count(50, 2),
    )
    # Copy 0 is queried repeatedly (warm: the API may answer from its response
    # cache); copies 1.. are each queried once, first thing after ingestion (cold).
    copies = 1 + scale.count(COLD_COPIES)
    bigs = [
        dataset.execution(f"{tag}-big{i}", f"{tag}-bp", scalars=scalars, names=f"{tag}-m")
        for i in range(copies)
    ]
    fulls = [
        dataset.execution(f"{tag}-list{i}", f"{tag}-lp", lists=1, list_len=length, chunk=1000)
        for i in range(copies)
    ]
    big, full = bigs[0], fulls[0]
    many = [
        dataset.execution(
            f"{tag}-{i}", f"{tag}-p", deployment=f"{tag}-d", scalars=SMALL_SCALARS, names=f"{tag}-s"
        )
        for i in range(spread)
    ]
    dataset.ingest(stack, [*bigs, *fulls, *many])
    client = MetricsClient(ClientSettings(token=stack.token, api_url=stack.api_url))
    per_filter = spread * SMALL_SCALARS
    cases: list[tuple[str, Callable[[], list[Any]], int, float | None]] = [
        (
            f"get_metrics(execution_id), {scalars} scalars",
            lambda: client.get_metrics(execution_id=big["id"]),
            scalars,
            5.0,
        ),
        (
            f"get_metrics(name), {spread} executions",
            lambda: client.get_metrics(name=f"{tag}-s0"),
            spread,
            None,
        ),
        (
            f"get_metrics(pipeline_name), {per_filter} metrics",
            lambda: client.get_metrics(pipeline_name=f"{tag}-p"),
            per_filter,
            None,
        ),
        (
            f"get_metrics(deployment_name), {per_filter} metrics",
            lambda: client.get_metrics(deployment_name=f"{tag}-d"),
            per_filter,
            None,
        ),
        (
            f"get_list_metrics(execution_id), 1 list of {length}",
            lambda: client.get_list_metrics(execution_id=full["id"]),
            1,
            50.0,
        ),
    ]
    found = []
    with client:
        found.append(
            _cold(
                f"get_metrics(execution_id), {scalars} scalars, cold",
                [partial(client.get_metrics, execution_id=e["id"]) for e in bigs[1:]],
            )
        )
        found.append(
            _cold(
                f"get_list_metrics(execution_id), 1 list of {length}, cold",
                [partial(client.get_list_metrics, execution_id=e["id"]) for e in fulls[1:]],
            )
        )
        for name, query, expected, target in cases:
            found.extend(_time_query(name, query, expected, target, scale))
    found.extend(_facade(stack, big["id"], scalars, scale))
    found.append(
        _api_rate(
            stack, {"execution_id": many[0]["id"]}, f"execution_id ({SMALL_SCALARS} items)", scale
        )
    )
    # A name filter is not execution-scoped: never answered from the response cache.
    found.append(_api_rate(stack, {"name": f"{tag}-m0"}, f"name, uncached ({copies} items)", scale))
    return found


def _cold(name: str, first_queries: list[Callable[[], list[Any]]]) -> Measurement:
    """Each query runs once on data nobody asked for yet: median ms."""
    costs = []
    for query in first_queries:
        start = time.perf_counter()
        query()
        costs.append((time.perf_counter() - start) * 1000)
    return measure(
        FAMILY,
        name,
        costs,
        "ms",
        higher_is_better=False,
        note="first query of each of several identical executions",
    )


def _time_query(
    name: str, query: Callable[[], list[Any]], expected: int, target: float | None, scale: Scale
) -> list[Measurement]:
    got = query()  # warm-up, and proof the answer is complete
    if len(got) != expected:
        raise RuntimeError(f"{name}: {len(got)} results, expected {expected}")
    medians, p99s = [], []
    for _ in range(scale.repeats):
        costs: list[float] = []
        stop_at = time.perf_counter() + scale.seconds / 4
        while len(costs) < 200 and (len(costs) < 5 or time.perf_counter() < stop_at):
            start = time.perf_counter()
            query()
            costs.append((time.perf_counter() - start) * 1000)
        medians.append(percentile(costs, 50))
        p99s.append(percentile(costs, 99))
    return [
        measure(
            FAMILY,
            name,
            medians,
            "ms",
            target=target,
            higher_is_better=False,
            note="query library (MetricsClient) over the reader API, all pages",
        ),
        measure(FAMILY, f"{name} p99", p99s, "ms", higher_is_better=False),
    ]


def _facade(stack: BenchStack, eid: str, expected: int, scale: Scale) -> list[Measurement]:
    spec = {"execution_id": eid, "expected": expected, "runs": 200, "seconds": scale.seconds / 4}
    env = stack.step_env()
    runs = repeat(scale.repeats, lambda: run_child(FACADE, spec, 120, env))
    name = f"CraftAiSdk.get_metrics(execution_id), {expected} scalars"
    return [
        measure(
            FAMILY,
            name,
            runs["median_ms"],
            "ms",
            higher_is_better=False,
            note="the documented facade, in a user-like child process",
        ),
        measure(FAMILY, f"{name} p99", runs["p99_ms"], "ms", higher_is_better=False),
    ]


def _api_rate(stack: BenchStack, query: dict[str, str], what: str, scale: Scale) -> Measurement:
    spec = {
        "url": f"{stack.api_url}{METRICS_PATH}?{urlencode(query)}",
        "token": stack.token,
        "connections": CONNECTIONS,
        "seconds": min(4.0, scale.seconds / 2),
    }
    runs = repeat(scale.repeats, lambda: run_child(HTTP_LOAD, spec, timeout=60))
    return measure(
        FAMILY,
        f"API small queries, {what}",
        runs["queries_per_s"],
        "queries/s",
        target=2000,
        note=f"{CONNECTIONS} keep-alive connections, raw HTTP/1.1 client in a child process",
    )
