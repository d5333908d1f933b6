"""Smoke test of the benchmark suite: every benchmark function runs at a tiny size.

It proves the benchmark code works against the real stack (and that each
benchmark's own correctness checks pass), the cluster families on a stack
whose worker and API use the session's 3-master Redis Cluster; it asserts no
timings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.families import mlflow_peer, peer_best, scale
from benchmarks.families.fanin_window import FanIn
from benchmarks.harness.report import machine, ratios, table, write_json
from benchmarks.harness.runner import TINY, Measurement
from benchmarks.harness.suite import CLUSTER_FAMILIES, STACK_FAMILIES, memory
from benchmarks.harness.workers import process_env
from stepmetrics.store.connection import REDIS_CLUSTER, REDIS_URL
from tests.support.redis_targets import RedisTarget
from tests.support.services import BenchStack, running_stack

PEER_FAMILIES = ("raw", "peer-best")


@pytest.fixture(scope="module")
def bench_stack() -> Iterator[BenchStack]:
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def cluster_bench_stack(redis_cluster: RedisTarget) -> Iterator[BenchStack]:
    with running_stack(redis_cluster) as stack:
        yield stack


def check(found: list[Measurement], family: str) -> None:
    assert found, f"{family} measured nothing"
    for m in found:
        assert m.family in (family, "peers"), m
        assert m.samples, m
        assert math.isfinite(m.value), m
        assert m.value > 0, m


def check_scale(found: list[Measurement]) -> None:
    """Every size reports its fill, memory, pages and scan; the ratios compare the ends."""
    names = {m.name: m for m in found}
    sizes = [TINY.count(n, minimum=2 * 10**i) for i, n in enumerate(scale.SIZES)]
    for size in sizes:
        for what in (
            "fill",
            "execution keys, with list",
            "index entries per execution",
            "first page by name (1,000 rows) warm",
            "first page by deployment (10,000 rows) cold",
            "executions page by pipeline warm",
            "full get_metrics(pipeline_name)",
        ):
            assert f"{size:,} exec {what}" in names, (size, what)
    # used_memory deltas of a few executions are noise: reported from 500 on
    assert not any("used_memory" in name for name in names)
    ratio = names[f"first page by pipeline (1,000 rows) warm {sizes[-1]:,}/{sizes[0]:,} exec"]
    assert ratio.target == scale.RATIO_TARGET


EXTRA_CHECKS = {"scale": check_scale}


@pytest.mark.parametrize("family", list(STACK_FAMILIES))
def test_stack_benchmark_runs_at_tiny_size(bench_stack: BenchStack, family: str) -> None:
    found = STACK_FAMILIES[family](bench_stack, TINY)
    check(found, "peers" if family in PEER_FAMILIES else family)
    assert len(table(found).splitlines()) == len(found) + 2  # header, rule, one row each
    EXTRA_CHECKS.get(family, lambda _: None)(found)


@pytest.mark.parametrize("family", list(CLUSTER_FAMILIES))
def test_cluster_benchmark_runs_at_tiny_size(
    cluster_bench_stack: BenchStack, redis_cluster: RedisTarget, family: str
) -> None:
    assert "redis" not in cluster_bench_stack.children  # no embedded redis-server
    for app in ("worker", "api"):
        env = process_env(cluster_bench_stack.pid(app))
        assert env[REDIS_CLUSTER.name] == "true", app
        assert env[REDIS_URL.name] == redis_cluster.url, app
    found = CLUSTER_FAMILIES[family](cluster_bench_stack, TINY)
    check(found, family)
    assert {m.family for m in found} == {family}


def test_mlflow_peer_ratios_and_json_at_tiny_size(tmp_path: Path) -> None:
    found = mlflow_peer.run(TINY)
    check(found, "peers")
    assert {m.name for m in found} == {"mlflow log_metric", "mlflow log_batch(1000)"}
    fake_e2e = Measurement("e2e", "scalar events", 1000.0, "events/s", samples=[1000.0])
    (ratio, *_) = ratios([*found, fake_e2e])
    assert ratio.name == "e2e scalars / mlflow log_metric"
    assert ratio.value == pytest.approx(1000.0 / found[0].value)
    out = tmp_path / "results" / "latest.json"
    write_json(out, [*found, ratio], {"e2e": "boom"}, TINY, machine((0.0, 0.0, 0.0)))
    doc = json.loads(out.read_text())
    assert [m["name"] for m in doc["measurements"]] == [*(m.name for m in found), ratio.name]
    assert doc["errors"] == {"e2e": "boom"}
    assert doc["machine"]["cpus"] >= 1


def test_memory_reports_every_stack_process(bench_stack: BenchStack) -> None:
    found = memory(bench_stack)
    check(found, "memory")
    assert [m.name.split()[0] for m in found] == ["api", "broker", "redis", "worker"]


def test_fanin_window_every_recorded_value_arrives(bench_stack: BenchStack) -> None:
    fan = FanIn(
        bench_stack, executions=6, processes=2, workers={"worker": bench_stack.pid("worker")}
    )
    window = fan.window(rate=20.0, seconds=0.5)
    # 6 executions x 10 ticks x (1 scalar + 1 list value); the window itself checked
    # every execution's list length and last scalar and read every sampled value.
    assert window.recorded == 6 * 10 * 2
    # P:stats counts what the worker applied meanwhile: the recorded events, and
    # at most the two steps' warm-up values.
    assert window.recorded <= window.events <= window.recorded + 2
    assert 0 < window.envelopes <= window.events
    assert 0 < window.p50_ms <= window.p99_ms
    assert window.drain_s >= 0
    assert window.cpu_s["worker"] > 0
    assert window.cpu_s["steps"] > 0


def test_best_peer_stores_every_event(bench_stack: BenchStack) -> None:
    events = 3 * peer_best.PER_ENVELOPE + 17  # a short last envelope too
    found = peer_best.once(bench_stack, events, timeout=60)
    # once() raised unless the consumer saw every event and each hash holds the last values.
    assert found["envelopes"] == 4
    assert found["e2e_per_s"] > 0
    assert found["produced_per_s"] >= found["e2e_per_s"]
