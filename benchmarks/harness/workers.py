"""Extra `stepmetrics worker` processes in the stack's consumer group.

An extra worker runs exactly as the stack's own (`stepmetrics.stack.apps.WORKER`,
the same environment, read from the running worker's `/proc/<pid>/environ`)
but keeps its faust data in a directory of its own. Faust rebalances the
topic's partitions between the members when it joins and when it leaves.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from stepmetrics.processors.settings import DATADIR
from stepmetrics.stack.apps import WORKER, worker_ready
from stepmetrics.stack.services import ManagedProcess
from tests.support.services import BenchStack

READY_TIMEOUT_S: Final = 90.0


def process_env(pid: int) -> dict[str, str]:
    """The environment a live process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode()
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


@contextlib.contextmanager
def extra_worker(stack: BenchStack, name: str) -> Iterator[ManagedProcess]:
    """Run one more worker in the stack's group until the block exits (then stop it).

    Yields once the worker printed its ready line, i.e. was assigned partitions.
    """
    if stack.partitions < 2:
        raise ValueError(
            f"a second worker needs a topic of at least 2 partitions; {stack.topic!r} "
            f"has {stack.partitions}"
        )
    home = stack.workdir / name
    env = {**process_env(stack.pid("worker")), DATADIR.name: str(home / "worker" / "faust")}
    managed = WORKER.start(home, stack.bootstrap, env)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not worker_ready(managed):
            if not managed.alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"extra worker {name} did not get ready; log tail:\n{managed.log_tail()}"
                )
            time.sleep(0.1)
        yield managed
    finally:
        managed.stop()
