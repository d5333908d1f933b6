"""The sender's use of the spool: durable mode, offline mode, spool on stop.

- memory (the default): nothing touches the disk until the sender stops with
  envelopes it could not deliver (an exit flush that timed out, a crash);
  those are spooled then.
- disk: each round's new envelopes are appended and fsynced (one fsync per
  round) before they are sent; once the outbox is empty, the file is emptied.
- offline: envelopes are appended and fsynced instead of being sent.

In both online modes an envelope the broker refuses for good (a fatal error:
an unauthorized or invalid topic, an envelope beyond the max request size) is
appended to a second file, `<producer_id>-refused.spool`, which durable mode's
emptying and compaction leave alone, for a `stepmetrics sync` once the cause
is fixed.

Envelopes refused by the size cap are counted: as failed when they are not
sent at all (offline, refused for good, or at stop), and they are still sent
in durable mode.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.settings import SPOOL_MAX_BYTES, ProducerSettings
from stepmetrics.producers.spool import SpoolWriter

log = logging.getLogger(__name__)

# Durable mode rewrites its file without the acknowledged envelopes beyond this size.
_COMPACT_AT: Final = 4 << 20


class SenderSpool:
    """The spool file of one sender (one producer id), opened on first write."""

    def __init__(self, settings: ProducerSettings, producer_id: str) -> None:
        self.directory = settings.spool_directory()
        self.writes_first = settings.durability == "disk" or settings.mode == "offline"
        self.offline = settings.mode == "offline"
        self._writer = SpoolWriter(
            self.directory, producer_id, settings.topic, settings.spool_max_bytes
        )
        self._refusals = SpoolWriter(
            self.directory, f"{producer_id}-refused", settings.topic, settings.spool_max_bytes
        )
        self._max_bytes = settings.spool_max_bytes
        self.refused_values = 0  # values the size cap kept off the disk, ever
        # Numbers (`Outgoing.number`) of envelopes sent from memory only (durable mode).
        self._unwritten: set[int] = set()

    def keep(self, envelopes: Sequence[Outgoing]) -> int:
        """Append and fsync `envelopes` (durable and offline modes).

        Returns the metric values the size cap refused (0 when all were written).
        """
        refused = _write(self._writer, envelopes)
        self._unwritten.update(out.number for out in refused)
        return self._refused(refused)

    def refused(self, envelopes: Sequence[Outgoing], reason: str) -> tuple[int, int]:
        """Keep `envelopes`, refused for good (`reason`), for a later sync.

        Returns (values spooled, values the size cap kept off the disk: failed).
        """
        failed = self._refused(_write(self._refusals, envelopes))
        spooled = sum(out.values for out in envelopes) - failed
        if spooled:
            log.error(
                "stepmetrics: %d metric value(s) refused for good (%s) spooled "
                "to %s; fix the cause, then send them with `stepmetrics sync`",
                spooled,
                reason,
                self._refusals.path,
            )
        return spooled, failed

    def settled(self, unacknowledged: Sequence[Outgoing]) -> None:
        """Durable mode, after acks: empty the file, or compact it when mostly acknowledged."""
        if self.offline:
            return
        try:
            if not unacknowledged:
                self._unwritten.clear()
                self._writer.reset()
            elif self._writer.size > max(_COMPACT_AT, 2 * _size(unacknowledged)):
                self._writer.rewrite(
                    [out for out in unacknowledged if out.number not in self._unwritten]
                )
        except OSError as exc:
            log.warning("stepmetrics: cannot compact the spool %s: %r", self._writer.path, exc)

    def stop(
        self, undelivered: Sequence[Outgoing], undrained: Sequence[Outgoing]
    ) -> tuple[int, int]:
        """The sender stops: keep what it could not deliver, release the file.

        `undelivered` are the outbox's envelopes (in the file already in
        durable mode, unless the cap refused them), `undrained` those built
        from what was left in the buffer. Returns (values spooled, refused).
        """
        if self.writes_first:
            written = [out for out in undelivered if out.number not in self._unwritten]
            unwritten = [out for out in undelivered if out.number in self._unwritten]
        else:
            written, unwritten = [], list(undelivered)
        unwritten += undrained
        refused = self.keep(unwritten) if unwritten else 0
        for writer in (self._writer, self._refusals):
            try:
                writer.close()
            except OSError as exc:
                log.error("stepmetrics: cannot close the spool %s: %r", writer.path, exc)
        spooled = sum(out.values for out in [*written, *unwritten]) - refused
        if spooled:
            log.warning(
                "stepmetrics: %d metric value(s) spooled to %s; send them with `stepmetrics sync`",
                spooled,
                self._writer.path,
            )
        return spooled, refused

    def _refused(self, refused: Sequence[Outgoing]) -> int:
        values = sum(out.values for out in refused)
        if values:
            self.refused_values += values
            log.warning(
                "stepmetrics: spool %s full (%s=%d): %d metric value(s) not written",
                self.directory,
                SPOOL_MAX_BYTES.name,
                self._max_bytes,
                values,
            )
        return values


def _write(writer: SpoolWriter, envelopes: Sequence[Outgoing]) -> list[Outgoing]:
    """Append and fsync `envelopes`; returns those not written (the cap, a disk error)."""
    try:
        refused = writer.append(envelopes)
        writer.sync()
    except OSError as exc:
        log.error("stepmetrics: cannot write the spool %s: %r", writer.path, exc)
        return list(envelopes)
    return refused


def _size(envelopes: Sequence[Outgoing]) -> int:
    return sum(len(out.key) + len(out.data) for out in envelopes)
