"""Export and import: how fast `stepmetrics export` reads and packs, and
`stepmetrics import` validates and produces; the export's memory at 1x and 4x data.

Data: executions of 1,000 scalars and `LISTS` lists of 50,000 values written
through the real `MetricsWriter` into the stack's redis-server under a prefix
of their own. Export: `stepmetrics.stack.exporter.export` of one execution into
a byte counter (values/s, MB/s of JSON Lines). Memory: `python -m stepmetrics.cli
export` in a child process, its peak RSS for an execution with `LISTS` lists
and one with 4x as many (bounded memory: the two stay close). Import: the
first pass (every line through the decoder) and the produce pass to the
stack's topic until acknowledged (envelopes/s, MB/s); the worker then skips
the repeats as duplicates (its apply rate is the `e2e` family's).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Final

import redis.asyncio as aioredis

from benchmarks.harness.runner import Measurement, Scale, measure, repeat
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.producers.file_import import ImportReport, produce, validate
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.stack.export_limits import EnvelopeLimits
from stepmetrics.stack.exporter import Selection, export
from stepmetrics.store.keys import RedisKeys
from tests.support.services import BenchStack

FAMILY: Final = "export"
SCALARS: Final = 1_000
LISTS: Final = 4
VALUES: Final = 50_000
_T0: Final = 1_764_150_000_000_000
# A child's peak RSS: run the export, then print ru_maxrss (KiB on Linux).
_CHILD: Final = (
    "import resource, sys\n"
    "from stepmetrics.cli.export import main\n"
    "code = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Export values/s and MB/s, export peak RSS at 1x and 4x, import envelopes/s."""
    if stack.redis_cluster:
        raise RuntimeError("the export family runs on the single-server stack")
    values = scale.count(VALUES, minimum=10)
    keys = RedisKeys(f"bench-export-{uuid.uuid4().hex[:8]}")
    asyncio.run(_seed(stack.redis_url, keys, {"one": LISTS, "four": 4 * LISTS}, values))
    total = SCALARS + LISTS * values
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.jsonl"
        samples = repeat(scale.repeats, lambda: _export_once(stack.redis_url, keys, total))
        rss = {name: _child_rss(stack, keys, name, Path(tmp) / f"{name}.jsonl")
               for name in ("one", "four")}  # fmt: skip
        imports = repeat(scale.repeats, lambda: _import_once(stack, path))
    shape = f"1 execution: {SCALARS:,} scalars + {LISTS} lists x {values:,} values"
    return [
        measure(FAMILY, "export values/s", samples["values/s"], "values/s", note=shape),
        measure(FAMILY, "export MB/s", samples["MB/s"], "MB/s", note=f"{shape}; JSON Lines"),
        measure(FAMILY, "export peak RSS", [rss["one"]], "MiB", higher_is_better=False,
                note=f"`stepmetrics export` child process; {shape}"),
        measure(FAMILY, "export peak RSS, 4x lists", [rss["four"]], "MiB",
                higher_is_better=False, note=f"the same with {4 * LISTS} lists"),
        measure(FAMILY, "import check MB/s", imports["check MB/s"], "MB/s",
                note="first pass: every line through the decoder"),
        measure(FAMILY, "import produce MB/s", imports["MB/s"], "MB/s",
                note="second pass: produce to the stack's topic, 32 in flight, until acked"),
    ]  # fmt: skip


async def _seed(redis_url: str, keys: RedisKeys, lists: dict[str, int], values: int) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        writer = MetricsWriter(client, keys)
        for eid, n_lists in lists.items():
            scalars: list[WireEvent] = [("s", f"m{i}", _T0 + i, i / 7) for i in range(SCALARS)]
            await writer.apply([Envelope("seed", 1, eid, "p", None, scalars)])
            for j in range(n_lists):  # the SDK's 20,000-event, 900 kB envelopes
                for seq, start in enumerate(range(0, values, 20_000), 2 + j * 10):
                    stop = min(values, start + 20_000)
                    chunk = [(k * 1.000001) ** 0.5 for k in range(start, stop)]
                    event: WireEvent = ("l", f"list-{j}", _T0 + SCALARS + start, chunk)
                    await writer.apply([Envelope("seed", seq, eid, "p", None, [event])])
    finally:
        await client.aclose()


def _export_once(redis_url: str, keys: RedisKeys, total: int) -> dict[str, float]:
    written = [0]

    def count(line: bytes) -> None:
        written[0] += len(line)

    async def go() -> float:
        client = aioredis.Redis.from_url(redis_url)
        try:
            start = time.perf_counter()
            report = await export(client, keys, Selection("one"), EnvelopeLimits(), count)
            elapsed = time.perf_counter() - start
        finally:
            await client.aclose()
        if report.values != total:
            raise RuntimeError(f"exported {report.values} values, not {total}")
        return elapsed

    elapsed = asyncio.run(go())
    return {"values/s": total / elapsed, "MB/s": written[0] / 1e6 / elapsed}


def _child_rss(stack: BenchStack, keys: RedisKeys, eid: str, out: Path) -> float:
    env = {**os.environ, "STEPMETRICS_REDIS_URL": stack.redis_url,
           "STEPMETRICS_REDIS_PREFIX": keys.prefix}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "--execution", eid, "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {done.stderr[-2000:]}")
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def _import_once(stack: BenchStack, path: Path) -> dict[str, float]:
    settings = ProducerSettings(bootstrap=stack.bootstrap, topic=stack.topic)
    report = ImportReport()
    with path.open("rb") as stream:
        start = time.perf_counter()
        validate(stream, report, skip_invalid=False)
        checked = time.perf_counter()
        stream.seek(0)
        asyncio.run(produce(stream, settings, report, lambda _: None))
        produced = time.perf_counter()
    if report.envelopes != report.lines:
        raise RuntimeError(f"{report.envelopes} of {report.lines} envelopes acknowledged")
    size = path.stat().st_size
    return {"check MB/s": size / 1e6 / (checked - start), "MB/s": size / 1e6 / (produced - checked)}
