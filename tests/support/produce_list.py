"""Run as a separate process: one producer appending to one list metric.

    python -m tests.support.produce_list BOOTSTRAP TOPIC PID EXECUTION COUNT PER BASE

sends COUNT envelopes of PER values each; value k of this producer is BASE + k.
"""

from __future__ import annotations

import asyncio
import sys

from stepmetrics.producers.events import Envelope
from tests.support.worker import T, produce


def main(argv: list[str]) -> None:
    bootstrap, topic, pid, execution, count, per, base = argv
    n, size, first = int(count), int(per), float(base)
    envelopes = [
        Envelope(
            pid,
            seq,
            execution,
            "pipe",
            None,
            [("l", "curve", T + seq, [first + seq * size + k for k in range(size)])],
        )
        for seq in range(n)
    ]
    asyncio.run(produce(bootstrap, topic, envelopes, pause=0.01, chunk=2))


if __name__ == "__main__":
    main(sys.argv[1:])
