"""How the worker classifies a failure: retry it, or give up on the message.

What no retry can fix is not retried (see `handler.py`): a write Redis
refused for good or that broke the writer, and a dead letter the broker
refuses for good. `redis_error_kind` names a Redis failure for the metrics.
"""

from __future__ import annotations

from typing import Final

from redis.exceptions import RedisError

from stepmetrics.processors.errors import ProcessorError
from stepmetrics.processors.telemetry import RedisErrorKind
from stepmetrics.producers.delivery import is_fatal

# How far down an error's causes to look for the aiokafka error that made it.
_CAUSE_DEPTH: Final = 5


def redis_error_kind(exc: BaseException) -> RedisErrorKind | None:
    """What kind of Redis failure `exc` is; None for an error that is not Redis's."""
    if isinstance(exc, ProcessorError):
        return "unavailable" if exc.retriable else "rejected"
    if isinstance(exc, OSError | RedisError):
        return "unavailable"
    return None


def rejected(exc: BaseException) -> bool:
    """Whether a write error is for good: Redis refused it, or the input broke the writer.

    Transient: the processor's retriable errors and connection-level ones.
    """
    if isinstance(exc, ProcessorError):
        return not exc.retriable
    return not isinstance(exc, OSError | RedisError)


def undeliverable(exc: BaseException) -> bool:
    """Whether producing a dead letter failed for good (faust wraps aiokafka's errors)."""
    seen: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if seen is None:
            return False
        if is_fatal(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
