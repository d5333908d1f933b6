"""Prometheus metrics, scraped and parsed with prometheus-client's parser.

The real worker (a subprocess) against the real broker and redis-server: good
envelopes, replays and bad messages in, its `/metrics` must count exactly what
was sent and agree with `P:stats`; its lag per partition is there and reaches
0. The reader API's `/metrics` over the real redis-server: token required, and
the request counter of a route moves by the requests made.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from stepmetrics.processors.deadletter import DeadLetterKind
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.stack.settings import DEFAULT_PARTITIONS
from stepmetrics.store.endpoints import EXECUTIONS_PATH, PROMETHEUS_PATH
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import APPLY_COUNTERS, read_stats
from tests.integration.conftest import Spawn
from tests.support.api import API_TOKEN, api_client
from tests.support.prometheus import Samples, labelled, parse_samples, value
from tests.support.worker import Hostile, T, make_envelopes, produce, produce_interleaved, wait_for

W = "stepmetrics_worker"
_GOOD = {"v": 1, "pid": "bad", "seq": 0, "eid": "exec-ok", "pipe": "pipe", "dep": None}


async def _scrape(client: httpx.AsyncClient, url: str) -> Samples:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return parse_samples(response.text)


def _dead_by_reason(samples: Samples) -> dict[str, float]:
    counts = labelled(samples, f"{W}_dead_letters_total")
    return {dict(labels)["reason"]: count for labels, count in counts.items()}


def _lags(samples: Samples) -> dict[tuple[str, str], float]:
    gauges = labelled(samples, f"{W}_consumer_lag")
    return {
        (d["topic"], d["partition"]): lag for d, lag in ((dict(k), v) for k, v in gauges.items())
    }


async def test_the_worker_counts_what_it_was_sent(
    broker: ManagedProcess,
    redis_client: aioredis.Redis,
    redis_keys: RedisKeys,
    topic: str,
    env: dict[str, str],
    spawn: Spawn,
) -> None:
    port = free_port()
    worker = spawn({**env, "STEPMETRICS_WORKER_METRICS_PORT": str(port)}, "worker")
    await worker.start()
    url = f"http://127.0.0.1:{port}/metrics"
    good = make_envelopes("p1", ["exec-a", "exec-b", "exec-c"], count=30, events_per=4, seed=5)
    replays = good[:5]
    bad: list[Hostile] = [
        (b"exec-ok", b"not json", "invalid envelope"),
        (b"exec-ok", orjson.dumps([1, 2]), "must be a JSON object"),
        # Decodes, but its seq is past what the apply script can compare exactly.
        (b"exec-ok", orjson.dumps({**_GOOD, "seq": 2**63 - 1, "ev": [["s", "a", T, 1.0]]}), ""),
    ]
    await produce_interleaved(broker.address, topic, good, bad)
    await produce(broker.address, topic, replays)
    sent = len(good) + len(replays) + len(bad)

    async with httpx.AsyncClient(trust_env=False) as client:

        async def caught_up() -> bool:
            samples = await _scrape(client, url)
            lags = _lags(samples)
            return (
                value(samples, f"{W}_messages_total") == sent
                and len(lags) == DEFAULT_PARTITIONS
                and not any(lags.values())
            )

        await wait_for(caught_up, 60, "every message counted and no lag", interval=0.2)
        samples = await _scrape(client, url)
    stats = await read_stats(redis_client, redis_keys)

    assert value(samples, f"{W}_envelopes_applied_total") == len(good)
    assert value(samples, f"{W}_duplicates_skipped_total") == len(replays)
    assert value(samples, f"{W}_events_applied_total") == sum(len(e.events) for e in good)
    for counter in APPLY_COUNTERS:  # the same counts as P:stats, each of them
        assert value(samples, f"{W}_{counter}_total") == stats[counter], counter
    assert _dead_by_reason(samples) == {
        **dict.fromkeys((kind.value for kind in DeadLetterKind), 0.0),
        "invalid_envelope": 2.0,
        "refused": 1.0,
    }
    assert stats["dead_lettered"] == len(bad)
    assert _lags(samples) == {(topic, str(p)): 0.0 for p in range(DEFAULT_PARTITIONS)}
    assert value(samples, f"{W}_batch_size_messages_sum") == sent
    batches = value(samples, f"{W}_apply_latency_seconds_count")
    assert 1 <= batches == value(samples, f"{W}_batch_size_messages_count") <= sent
    assert value(samples, f"{W}_redis_errors_total", {"kind": "unavailable"}) == 0

    assert await worker.stop() == 0
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):  # stopped with the worker, socket closed
            await client.get(url)


async def test_the_api_counts_requests_by_route_behind_the_token(app: Starlette) -> None:
    def requests(samples: Samples) -> float:
        labels = {"route": EXECUTIONS_PATH, "method": "GET", "status": "200"}
        return value(samples, "stepmetrics_api_requests_total", labels)

    async with api_client(app) as anonymous, api_client(app, API_TOKEN) as client:
        refused = await anonymous.get(PROMETHEUS_PATH)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert (await client.get(EXECUTIONS_PATH)).status_code == 200
        before = requests(await _scrape(client, PROMETHEUS_PATH))
        for _ in range(3):
            assert (await client.get(EXECUTIONS_PATH, params={"limit": 1})).status_code == 200
        after = await _scrape(client, PROMETHEUS_PATH)
    assert (before, requests(after)) == (1, 4)
    latency = "stepmetrics_api_request_duration_seconds_count"
    assert value(after, latency, {"route": EXECUTIONS_PATH}) == 4
    metrics_401 = {"route": PROMETHEUS_PATH, "method": "GET", "status": "401"}
    assert value(after, "stepmetrics_api_requests_total", metrics_401) == 1
