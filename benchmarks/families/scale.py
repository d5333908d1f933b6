"""Scale: query latency and Redis memory at 1,000, 10,000 and 100,000 executions.

One `Fleet` (20 scalars per execution, a 1,000-value list in one in ten; the
first 10,000 executions in one pipeline, the rest in pipelines of 1,000, two
deployments each) is filled incrementally through the real pipeline by
several step children (1,000 executions, measure, 9,000 more, measure,
90,000 more, measure). At each size, through the query library's paging core
(`stepmetrics.store.paging`) over the reader API:

- the first page of `get_metrics` by name, by pipeline and by deployment:
  1,000 rows (the API's default page; full at every size, so the sizes
  compare) and 10,000 rows (the query library's page) by pipeline and
  deployment. "cold" is the first request after the fill, "warm" the median
  of the repeats that follow (none of these is cached by the API), and the
  mean CPU ms the API and redis-server spent per warm request (the wall
  times follow the machine's load, which changes between the sizes; the CPU
  a request costs hardly does);
- the full `MetricsClient.get_metrics(pipeline_name=...)` of the big
  pipeline (200,000 rows once it has its 10,000 executions), rows/s;
- the executions list page as the Executions page asks for it (50 newest,
  all and filtered by pipeline);
- Redis memory (`benchmarks.families.scale_memory`).

Then the ratios of the page medians at the largest size to the smallest
(target <= 2x, for the warm wall time and the API CPU per request).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from benchmarks.families import scale_memory
from benchmarks.harness import dataset
from benchmarks.harness.fleet import Fleet, fill
from benchmarks.harness.runner import Measurement, Scale, measure
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.endpoints import EXECUTIONS_PATH
from stepmetrics.store.paging import METRICS_PATH, Paging, headers, metric_query
from stepmetrics.store.settings import ClientSettings
from tests.support.services import BenchStack

FAMILY: Final = "scale"
SIZES: Final = (1_000, 10_000, 100_000)
BIG: Final = 10_000  # executions of the pipeline a full scan reads
PIPELINE_SIZE: Final = 1_000
STEPS: Final = 4  # step children recording at once
PAGES: Final = (1_000, 10_000)  # rows of a first page
EXECUTIONS_PAGE: Final = 50  # what the Executions page asks for
SCAN_TARGET: Final = 200_000.0  # rows/s of the full scan (issue 16)
RATIO_TARGET: Final = 2.0
Timed = Callable[[], int]
SERVERS: Final = ("api", "redis")  # the processes whose CPU a query costs


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Fill, then measure, at each size; then the growth ratios."""
    sizes = [scale.count(n, minimum=2 * 10**i) for i, n in enumerate(SIZES)]
    fleet = Fleet(
        tag=dataset.unique("scale"),
        big=scale.count(BIG, minimum=sizes[1]),
        pipeline_size=scale.count(PIPELINE_SIZE, minimum=2),
        names=f"s{secrets.token_hex(2)}_m",
        list_len=scale.count(1000, minimum=10),
    )
    runs = max(3, 3 * scale.repeats)
    found: list[Measurement] = []
    settings = ClientSettings(token=stack.token, api_url=stack.api_url)
    http = httpx.Client(base_url=stack.api_url, headers=headers(settings), timeout=60)
    with http, MetricsClient(settings) as client:
        memory = scale_memory.Probe(stack, fleet, _stats(http))
        done = 0
        for size in sizes:
            filled = fill(stack, fleet, done, size - done, STEPS)
            done = size
            label = f"{size:,} exec"
            rate = filled.executions / filled.seconds
            events = (filled.scalar_events + filled.list_values) / filled.seconds
            note = f"{filled.executions:,} executions in {filled.seconds:.1f}s, {STEPS} steps"
            found.append(measure(FAMILY, f"{label} fill", [rate], "executions/s", note=note))
            found.append(measure(FAMILY, f"{label} fill events", [events], "values/s"))
            stats = _stats(http)
            found.extend(memory.after_fill(label, size, stats))
            found.extend(_first_pages(http, stack, fleet, label, runs, size))
            listed = (stats["executions"], min(size, fleet.big))
            found.extend(_executions_pages(http, stack, fleet, label, runs, listed))
            found.extend(_full_scan(client, stack, fleet, label, min(size, fleet.big)))
    found.extend(_ratios(found, f"{sizes[-1]:,} exec", f"{sizes[0]:,} exec"))
    return found


def _stats(http: httpx.Client) -> dict[str, Any]:
    answer = http.get("/api/v1/stats")
    answer.raise_for_status()
    stats: dict[str, Any] = answer.json()
    return stats


def _timed(
    stack: BenchStack, label: str, what: str, call: Timed, runs: int, expect: int
) -> list[Measurement]:
    """Cold (first call) and warm (median of `runs` more) ms of `call`, which
    returns how many items it got (checked against `expect`), and the mean CPU
    ms the API and redis-server spent per warm call (what the load does not change)."""
    costs: list[float] = []
    spent: dict[str, float] = {}
    for run in range(runs + 1):
        if run == 1:
            spent = {name: cpu_seconds(stack.pid(name)) for name in SERVERS}
        start = time.perf_counter()
        got = call()
        costs.append((time.perf_counter() - start) * 1000)
        if got != expect:
            raise RuntimeError(f"{label} {what}: {got} items, expected {expect}")
    note = f"{expect:,} items"
    found = [
        measure(FAMILY, f"{label} {what} cold", costs[:1], "ms", higher_is_better=False, note=note),
        measure(FAMILY, f"{label} {what} warm", costs[1:], "ms", higher_is_better=False, note=note),
    ]
    for name, before in spent.items():
        ms = (cpu_seconds(stack.pid(name)) - before) * 1000 / runs
        found.append(
            measure(FAMILY, f"{label} {what} {name} CPU", [ms], "ms", higher_is_better=False)
        )
    return found


def _first_pages(
    http: httpx.Client, stack: BenchStack, fleet: Fleet, label: str, runs: int, size: int
) -> list[Measurement]:
    big = min(size, fleet.big)
    d0 = (big + fleet.deployments - 1) // fleet.deployments
    cases = [
        ("name", fleet.names + "0", size),
        ("pipeline_name", fleet.pipeline(0), big * fleet.scalars),
    ]
    cases.append(("deployment_name", fleet.deployment(0), d0 * fleet.scalars))
    found = []
    for key, value, available in cases:
        query = metric_query(**{key: value})
        for rows in PAGES if key != "name" else PAGES[:1]:

            def page(query: dict[str, str] = query, rows: int = rows) -> int:
                paging = Paging(stack.api_url, METRICS_PATH, query)
                paging.take(http.get(METRICS_PATH, params={**paging.params(), "limit": rows}))
                return len(paging.items)

            what = f"first page by {key.removesuffix('_name')} ({rows:,} rows)"
            found.extend(_timed(stack, label, what, page, runs, min(rows, available)))
    return found


def _executions_pages(
    http: httpx.Client,
    stack: BenchStack,
    fleet: Fleet,
    label: str,
    runs: int,
    listed: tuple[int, int],
) -> list[Measurement]:
    """The newest executions (of all, of the big pipeline: `listed` holds how many exist)."""
    found = []
    for what, query, available in (
        ("executions page", {}, listed[0]),
        ("executions page by pipeline", {"pipeline_name": fleet.pipeline(0)}, listed[1]),
    ):
        params = {**query, "limit": str(EXECUTIONS_PAGE)}

        def page(params: dict[str, str] = params) -> int:
            answer = http.get(EXECUTIONS_PATH, params=params)
            answer.raise_for_status()
            return len(orjson.loads(answer.content)["items"])

        found.extend(_timed(stack, label, what, page, runs, min(EXECUTIONS_PAGE, available)))
    return found


def _full_scan(
    client: MetricsClient, stack: BenchStack, fleet: Fleet, label: str, executions: int
) -> list[Measurement]:
    """rows/s of every scalar of the big pipeline, all pages, through the query library,
    and the CPU each process spent per row (what the machine's load does not change)."""
    rows = executions * fleet.scalars
    rates: list[float] = []
    cpu: dict[str, list[float]] = {"api": [], "redis": [], "client": []}
    for _ in range(3):
        before = {name: cpu_seconds(stack.pid(name)) for name in ("api", "redis")}
        mine, start = time.process_time(), time.perf_counter()
        got = client.get_metrics(pipeline_name=fleet.pipeline(0))
        rates.append(len(got) / (time.perf_counter() - start))
        cpu["client"].append((time.process_time() - mine) / rows * 1e6)
        for name, spent in before.items():
            cpu[name].append((cpu_seconds(stack.pid(name)) - spent) / rows * 1e6)
        if len(got) != rows:
            raise RuntimeError(f"full scan: {len(got)} rows, expected {rows}")
    what = f"{label} full get_metrics(pipeline_name)"
    note = f"{rows:,} rows of {executions:,} executions"
    target = SCAN_TARGET if executions == fleet.big else None
    found = [measure(FAMILY, what, rates, "rows/s", target=target, note=note)]
    found.extend(
        measure(FAMILY, f"{what} {name} CPU per row", samples, "us", higher_is_better=False)
        for name, samples in cpu.items()
    )
    return found


def cpu_seconds(pid: int) -> float:
    """CPU seconds the main thread of a process has run (`/proc/<pid>/schedstat`,
    in ns: finer than the 10 ms ticks of `/proc/<pid>/stat`). The API and
    redis-server do their work on their main thread."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def _ratios(found: list[Measurement], largest: str, smallest: str) -> list[Measurement]:
    """largest/smallest of each first-page and executions-page median."""
    by_name = {m.name: m for m in found}
    ratios = []
    for name, top in by_name.items():
        if not name.startswith(largest + " ") or "page" not in name or "redis CPU" in name:
            continue
        what = name.removeprefix(largest + " ")
        bottom = by_name[f"{smallest} {what}"]
        if bottom.value <= 0:
            continue
        ratios.append(
            measure(
                FAMILY,
                f"{what} {largest.split()[0]}/{smallest}",
                [top.value / bottom.value],
                "x",
                target=RATIO_TARGET if what.endswith(("warm", "api CPU")) else None,
                higher_is_better=False,
                note="ratio of medians, same run",
            )
        )
    return ratios
