"""The process-wide recorder: validate, count, queue; deliver in the background.

One `Recorder` per process is what `CraftAiSdk` uses (`get_recorder()`). Its
sender thread starts with the first recorded value. After `os.fork()` the
child gets a fresh state (new producer id, empty buffer, its own sender on
first use); the parent's pending values stay the parent's. At interpreter exit
(and at the end of a `multiprocessing` child, which skips `atexit`) it flushes
within `flush_timeout`, spools what it could not deliver (`sender_spool`) and
warns with the number of values and where they went.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import uuid
import warnings
import weakref
from dataclasses import dataclass
from typing import Final

from stepmetrics.producers.buffer import Buffer, BufferStats
from stepmetrics.producers.context import StepContext
from stepmetrics.producers.errors import StepMetricsWarning
from stepmetrics.producers.events import KIND_LIST, KIND_SCALAR, MAX_LIST_VALUES
from stepmetrics.producers.sender import Sender
from stepmetrics.producers.settings import FLUSH_TIMEOUT, ProducerSettings
from stepmetrics.producers.validation import check_metric_name, list_values, scalar_value
from stepmetrics.producers.validation import valid_names as _known_names

log = logging.getLogger(__name__)

_LIVE: Final[weakref.WeakSet[Recorder]] = weakref.WeakSet()
_default: Recorder | None = None
_default_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ProducerStats(BufferStats):
    """What this process's recorder did, in metric values: the buffer's
    counters (see `BufferStats`) plus `over_limit`, values not sent because
    their list already held 50,000 values."""

    over_limit: int = 0


class Recorder:
    """Validates and queues metric values of steps; one sender per process."""

    def __init__(self, settings: ProducerSettings | None = None) -> None:
        self.settings = settings if settings is not None else ProducerSettings.from_env()
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        self.producer_id = ""  # a new one per sender: see _start
        self._pid = os.getpid()
        self._buffer = Buffer(self.settings.buffer_values)
        self._sender: Sender | None = None
        self._start_lock = threading.Lock()
        self._list_lock = threading.Lock()
        self._list_counts: dict[tuple[str, str], int] = {}
        self._over_limit = 0

    def record_scalar(
        self, ctx: StepContext, name: object, value: object, stacklevel: int = 2
    ) -> bool:
        """Validate and queue one scalar value; False (and a warning) if dropped."""
        # Inlined fast paths of check_metric_name and scalar_value: a known
        # name, a finite float (x - x is NaN for NaN and ±inf).
        if type(name) is not str or name not in _known_names:
            name = check_metric_name(name)
        if type(value) is not float or value - value != 0.0:
            value = scalar_value(name, value)
        if self._sender is None:
            self._start()
        event = (KIND_SCALAR, name, time.time_ns() // 1000, value)
        if self._buffer.put(ctx, event, 1, self.settings.block_timeout):
            return True
        self._warn_dropped(name, 1, stacklevel + 1)
        return False

    def record_list(
        self, ctx: StepContext, name: object, values: object, stacklevel: int = 2
    ) -> bool:
        """Validate and queue values appended to a list metric.

        Returns False when values were dropped because the buffer stayed full
        (with a warning) or not sent because the list holds 50,000 values
        (with one warning, when it reaches the limit).
        """
        checked = check_metric_name(name)
        wire = list_values(checked, values)
        if not wire:
            return True
        if self._sender is None:
            self._start()
        key = (ctx.execution_id, checked)
        with self._list_lock:
            count = self._list_counts.get(key, 0)
            room = max(MAX_LIST_VALUES - count, 0)
            truncated = len(wire) > room
            if truncated:
                self._over_limit += len(wire) - room
                wire = wire[:room]
            if wire:
                event = (KIND_LIST, checked, time.time_ns() // 1000, wire)
                if not self._buffer.put(ctx, event, len(wire), self.settings.block_timeout):
                    self._warn_dropped(checked, len(wire), stacklevel + 1)
                    return False
                self._list_counts[key] = count + len(wire)
        if room and count + len(wire) >= MAX_LIST_VALUES:
            warnings.warn(
                f"list metric {checked!r} of execution {ctx.execution_id!r} reached "
                f"{MAX_LIST_VALUES:,} values in this process; further values are not sent",
                StepMetricsWarning,
                stacklevel=stacklevel,
            )
        return not truncated

    def _warn_dropped(self, name: str, count: int, stacklevel: int) -> None:
        warnings.warn(
            f"stepmetrics buffer full ({self.settings.buffer_values:,} values, waited "
            f"{self.settings.block_timeout}s): {count} value(s) of metric {name!r} dropped",
            StepMetricsWarning,
            stacklevel=stacklevel,
        )

    def _start(self) -> None:
        with self._start_lock:
            if self._sender is not None:
                return
            # Envelope identities must never repeat: a sender started after a
            # close() or in a forked child numbers its envelopes from 0 again.
            self.producer_id = uuid.uuid4().hex
            sender = Sender(self.settings, self._buffer, self.producer_id, self._sender_exited)
            sender.start()
            self._sender = sender
        _register_multiprocessing_exit(self)

    def _sender_exited(self, sender: Sender) -> None:
        # Called from the sender's own thread when it ends (a close, or a
        # crash): the next record starts a new sender instead of filling the
        # buffer of a dead one. No lock: close() may hold it while joining.
        if self._sender is sender:
            self._sender = None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every value recorded so far is acknowledged; True if so."""
        if self._buffer.stats().pending == 0:
            return True
        if self._sender is None:  # closed, or crashed: values wait in the buffer
            self._start()
        sender = self._sender
        return sender is not None and sender.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush within `timeout`, then stop the sender (a later record restarts it)."""
        with self._start_lock:
            sender, self._sender = self._sender, None
        if sender is None:
            return self._buffer.stats().pending == 0
        return sender.close(timeout)

    def stats(self) -> ProducerStats:
        """A snapshot of this process's counters."""
        b = self._buffer.stats()
        return ProducerStats(
            b.recorded, b.delivered, b.dropped, b.failed, b.spooled, over_limit=self._over_limit
        )

    def _exit_flush(self) -> None:
        if self._pid != os.getpid() or self._sender is None:
            return
        timeout = self.settings.flush_timeout
        before = self.stats()
        if self.close(timeout):
            return
        # close() spools what its sender still held, or counts it as failed.
        after = self.stats()
        spooled = after.spooled - before.spooled
        lost = after.pending + after.failed - before.failed
        if spooled:
            log.warning("stepmetrics: %d metric values spooled at exit", spooled)
            warnings.warn(
                f"stepmetrics: {spooled} metric value(s) could not be delivered within "
                f"{FLUSH_TIMEOUT.name}={timeout}s; they are spooled in "
                f"{self.settings.spool_directory()}: send them with `stepmetrics sync`",
                StepMetricsWarning,
                stacklevel=1,
            )
        if lost:
            log.error("stepmetrics: %d metric values undelivered at exit", lost)
            warnings.warn(
                f"stepmetrics: {lost} metric value(s) could not be delivered within "
                f"{FLUSH_TIMEOUT.name}={timeout}s and are lost",
                StepMetricsWarning,
                stacklevel=1,
            )

    def _after_fork_in_child(self) -> None:
        # Locks may have been held by threads that do not exist in the child.
        self._reset()


def get_recorder() -> Recorder:
    """The process-wide recorder, created from the environment on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Recorder()
    return _default


def _register_multiprocessing_exit(recorder: Recorder) -> None:
    # multiprocessing children end with os._exit(): atexit does not run there,
    # but multiprocessing's own finalizers do.
    mp = sys.modules.get("multiprocessing")
    if mp is None or mp.parent_process() is None:
        return
    from multiprocessing.util import Finalize

    Finalize(None, recorder._exit_flush, exitpriority=100)


def _flush_all_at_exit() -> None:
    for recorder in list(_LIVE):
        recorder._exit_flush()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for recorder in list(_LIVE):
        recorder._after_fork_in_child()


atexit.register(_flush_all_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
