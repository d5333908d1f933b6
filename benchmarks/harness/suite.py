"""Run the benchmark families in order; a family that fails is reported, not fatal.

The stack families run on a stack with its own redis-server ("single"); the
cluster families (`e2e-cluster`, `queries-cluster`) run the same benchmarks
again on a second stack whose worker and API use a real 3-master Redis Cluster
(`tests.support.redis_targets.start_cluster`), reported under their own family.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from benchmarks.families import (
    dedup_state,
    e2e,
    export_import,
    fanin,
    growth,
    lifecycle,
    mlflow_peer,
    peer_best,
    queries,
    raw_pipeline,
    scale,
    sdk_emission,
    web_compare,
)
from benchmarks.harness.report import ratios
from benchmarks.harness.runner import Measurement, Scale, measure, peak_rss_mib
from tests.support.redis_targets import start_cluster
from tests.support.services import BenchStack, running_stack

logger = logging.getLogger(__name__)

StackBenchmark = Callable[[BenchStack, Scale], list[Measurement]]
# In run order: the step SDK first (quietest stack), scale last (largest data: 100,000
# executions stay in Redis).
STACK_FAMILIES: Final[dict[str, StackBenchmark]] = {
    "sdk": sdk_emission.run,
    "e2e": e2e.run,
    "queries": queries.run,
    "web": web_compare.run,
    "raw": raw_pipeline.run,
    "peer-best": peer_best.run,
    "growth": growth.run,
    "dedup": dedup_state.run,
    "export": export_import.run,
    "lifecycle": lifecycle.run,
    "fanin": fanin.run,
    "scale": scale.run,
}
CLUSTER_SUFFIX: Final = "-cluster"


def on_cluster(run: StackBenchmark) -> StackBenchmark:
    """`run`, its measurements reported under `<family>-cluster`."""

    def relabelled(stack: BenchStack, scale: Scale) -> list[Measurement]:
        return [dataclasses.replace(m, family=m.family + CLUSTER_SUFFIX) for m in run(stack, scale)]

    return relabelled


CLUSTER_FAMILIES: Final[dict[str, StackBenchmark]] = {
    f"e2e{CLUSTER_SUFFIX}": on_cluster(e2e.run),
    f"queries{CLUSTER_SUFFIX}": on_cluster(queries.run),
}
FAMILIES: Final = ("mlflow", *STACK_FAMILIES, *CLUSTER_FAMILIES)


@dataclass
class SuiteResult:
    """Everything one run measured, and the families that failed (name -> traceback)."""

    measurements: list[Measurement] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)  # 1-minute load average at start


def run_suite(scale: Scale, only: Sequence[str] = FAMILIES) -> SuiteResult:
    """Run the families named in `only` (see `FAMILIES`) against a fresh stack."""
    unknown = set(only) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown benchmark families {sorted(unknown)}; known: {FAMILIES}")
    result = SuiteResult()
    if "mlflow" in only:
        _attempt(result, "mlflow", lambda: mlflow_peer.run(scale))
    wanted = [name for name in STACK_FAMILIES if name in only]
    if wanted:
        with running_stack() as stack:
            _run_families(result, STACK_FAMILIES, wanted, stack, scale)
            _attempt(result, "memory", functools.partial(memory, stack))
    wanted = [name for name in CLUSTER_FAMILIES if name in only]
    if wanted:
        with cluster_stack() as stack:
            _run_families(result, CLUSTER_FAMILIES, wanted, stack, scale)
    result.measurements.extend(ratios(result.measurements))
    return result


@contextlib.contextmanager
def cluster_stack() -> Iterator[BenchStack]:
    """A stack whose worker and API use a fresh 3-master Redis Cluster."""
    with (
        tempfile.TemporaryDirectory(prefix="stepmetrics-bench-cluster-") as tmp,
        start_cluster(Path(tmp)) as cluster,
        running_stack(cluster) as stack,
    ):
        yield stack


def _run_families(
    result: SuiteResult,
    families: dict[str, StackBenchmark],
    names: Sequence[str],
    stack: BenchStack,
    scale: Scale,
) -> None:
    for name in names:
        _attempt(result, name, functools.partial(families[name], stack, scale))


def memory(stack: BenchStack) -> list[Measurement]:
    """Peak RSS (VmHWM) of every process of the stack over the whole run."""
    return [
        measure(
            "memory",
            f"{name} peak RSS, whole run",
            [peak_rss_mib(stack.pid(name))],
            "MiB",
            higher_is_better=False,
        )
        for name in sorted(stack.children)
    ]


def _attempt(result: SuiteResult, name: str, run: Callable[[], list[Measurement]]) -> None:
    result.load[name] = round(os.getloadavg()[0], 2)
    logger.info("benchmark %s: starting (load average %.2f)", name, result.load[name])
    start = time.monotonic()
    try:
        result.measurements.extend(run())
    except Exception:  # noqa: BLE001 - one broken family must not hide the others
        result.errors[name] = traceback.format_exc()
        logger.error("benchmark %s failed:\n%s", name, result.errors[name])
    result.seconds[name] = round(time.monotonic() - start, 1)
    logger.info("benchmark %s: done in %.1fs", name, result.seconds[name])
