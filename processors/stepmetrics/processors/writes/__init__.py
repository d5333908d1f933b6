"""The write model: how the worker applies envelopes to Redis.

`reduce` folds one execution's envelopes into a plan (pure Python); `writer`
runs each plan through the apply script in one call per execution.
"""

from stepmetrics.processors.writes.writer import MetricsWriter

__all__ = ["MetricsWriter"]
