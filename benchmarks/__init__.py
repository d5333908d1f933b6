"""The stepmetrics benchmark suite, run with `python -m benchmarks` (`make bench`).

One module per benchmark family (SDK emission, end-to-end ingestion, queries,
peers, growth); `runner` holds the shared measurement types and `report` the
table and JSON output. Every load targets 127.0.0.1 only.
"""

from benchmarks.harness.runner import Measurement, Scale

__all__ = ["Measurement", "Scale"]
