"""A battery of hostile messages, interleaved with good envelopes, cannot stop the worker."""

from __future__ import annotations

import os

import orjson
import redis.asyncio as aioredis

from stepmetrics.processors.deadletter import TRUNCATED_HEADER, LetterRecord
from stepmetrics.producers.events import MAX_LIST_VALUES, Envelope
from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import read_stats
from tests.integration.conftest import Spawn
from tests.support.metrics_state import actual_state, expected_state
from tests.support.worker import (
    Hostile,
    T,
    consume_all,
    letter_source,
    make_envelopes,
    produce_interleaved,
    wait_for,
)

# Ids and names made of the characters the key layout must keep apart.
EXECUTIONS = ["exec}1", "exec:1", "exec%7D1", "exec%3A1", "exec{1", "exec-ok"]
_HEAD = b'{"v":1,"pid":"bad","seq":0,"eid":"exec-ok","pipe":"p","dep":null,"ev":'
_GOOD = {"v": 1, "pid": "bad", "seq": 0, "eid": "exec-ok", "pipe": "pipe", "dep": None}


def _hostile() -> list[Hostile]:
    """Bad messages and a fragment of the reason each must be dead-lettered with."""
    scalar = [["s", "a", T, 1.0]]
    return [
        (b"exec-ok", _HEAD + b"[" * 1010 + b"]" * 1010 + b"}", "must be [kind, name, ts_us"),
        (b"k" * 150_000, b"{" * 900 * 1024, "exceeds 900000"),
        (b"exec-ok", os.urandom(4096), "invalid envelope"),
        (None, orjson.dumps([1, 2, 3]), "must be a JSON object, got list"),
        (b"exec-ok", orjson.dumps({**_GOOD, "seq": "1", "ev": scalar}), "'seq' must be"),
        (b"exec-ok", orjson.dumps({**_GOOD, "ev": {"a": 1}}), "'ev' must be a non-empty list"),
        (b"exec-ok", orjson.dumps({**_GOOD, "pid": 7, "ev": scalar}), "'pid' must be a str"),
        (b"exec-ok", orjson.dumps({**_GOOD, "seq": -1, "ev": scalar}), "non-negative integer"),
        (
            b"exec-ok",
            _HEAD[:-5] + b'"seq":99999999999999999999,"ev":[["s","a",1,1.0]]}',
            "non-negative",
        ),
        (b"exec-ok", orjson.dumps({**_GOOD, "ev": [["s", "a", -5, 1.0]]}), "integer µs"),
        (b"exec-ok", _HEAD + b'[["s","a",1,-1e309]]}', "number is infinity"),
        (b"exec-ok", _HEAD + b'[["l","a",1,' + b"[1.5," * 3 + b"]]}", "not JSON"),
        (b"exec-ok", orjson.dumps({**_GOOD, "eid": "", "ev": scalar}), "'eid'=''"),
        (b"exec-ok", b"", "zero-length"),
        (b"exec-ok", None, "zero-length"),
        (b"exec-ok", b"null", "got NoneType"),
        # Decodes, but its seq is past what the apply script can compare exactly.
        (b"exec-ok", orjson.dumps({**_GOOD, "seq": 2**63 - 1, "ev": scalar}), "refused: "),
    ]


def _good() -> list[Envelope]:
    """Good envelopes, some of them extreme: every one must be applied exactly."""
    envelopes = make_envelopes("p1", EXECUTIONS, count=60, events_per=8, seed=11)
    envelopes += [
        # A huge count: more list values than the cap keeps.
        Envelope("p2", 0, "exec-ok", "pipe", None, [("l", "big", T, [0.5] * 60_000)]),
        # The largest numbers the contract and the dedup window allow.
        Envelope("p2", 10**15 - 1, "exec-max", "pipe", None, [("s", "m", 2**63 - 1, 1e308)]),
        # A duplicate identity (a replay with other content): skipped whole.
        Envelope("p1", 3, EXECUTIONS[3], "pipe", "dep", [("s", "m0", T, 42.0)]),
        # A metric name made of key-layout characters.
        Envelope("p2", 1, "exec}1", "pipe", None, [("s", "}:%{", T, 3.0), ("s", "m0}", T, 4.0)]),
    ]
    assert MAX_LIST_VALUES < 60_000
    return envelopes


async def test_no_hostile_message_stops_the_worker_or_costs_a_good_one(
    broker: ManagedProcess,
    redis_client: aioredis.Redis,
    redis_keys: RedisKeys,
    topic: str,
    env: dict[str, str],
    spawn: Spawn,
) -> None:
    worker = spawn(env, "worker")
    await worker.start()
    good, hostile = _good(), _hostile()
    sources = await produce_interleaved(broker.address, topic, good, hostile)
    distinct = len({(e.execution_id, e.identity) for e in good})

    async def done(applied: int) -> bool:
        stats = await read_stats(redis_client, redis_keys)
        return stats["envelopes_applied"] >= applied and stats["dead_lettered"] >= len(hostile)

    await wait_for(lambda: done(distinct), 60, "good envelopes applied, bad ones dead-lettered")
    letters = await consume_all(broker.address, f"{topic}.deadletter", len(hostile))
    for letter in letters:
        headers = dict(letter.headers)
        key, value, reason = sources.pop(letter_source(letter))
        assert reason in headers["stepmetrics-reason"].decode(), headers["stepmetrics-reason"]
        assert LetterRecord(letter.key, letter.value, list(letter.headers)).size <= 960_000
        if TRUNCATED_HEADER in headers:  # only the huge one is cut, and it says so
            assert headers[TRUNCATED_HEADER] == b"key=150000,value=921600,headers=0"
            assert value is not None
            assert (letter.key, value[: len(letter.value)]) == (key, letter.value)
        else:
            assert (letter.key, letter.value) == (key, value)
    assert sources == {}

    # The worker goes on applying after the battery.
    after = make_envelopes("p3", EXECUTIONS, count=20, events_per=5, seed=12)
    await produce_interleaved(broker.address, topic, after, [])
    await wait_for(lambda: done(distinct + len(after)), 60, "envelopes after the battery")
    assert await worker.stop() == 0
    stats = await read_stats(redis_client, redis_keys)
    assert stats["envelopes_applied"] == distinct + len(after)
    assert (stats["dead_lettered"], stats["dead_letters_failed"]) == (len(hostile), 0)
    assert stats["duplicates_skipped"] == 1
    executions = [*EXECUTIONS, "exec-max"]
    state = await actual_state(redis_client, redis_keys, executions)
    assert state == expected_state([*good, *after])
    assert state["exec}1"].scalars["}:%{"] == "3.0"
