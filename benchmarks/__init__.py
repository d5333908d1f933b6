"""The stepmetrics benchmark suite, run with `python -m benchmarks` (`make bench`).

`harness/` runs the suite (`runner`: measurement types and child processes;
`suite`: the families in order; `report`: table and JSON output), `families/`
holds one module per benchmark family (SDK emission, end-to-end ingestion,
queries, peers, growth) and `children/` the programs the harness spawns.
Every load targets 127.0.0.1 only.
"""

from benchmarks.harness.runner import Measurement, Scale

__all__ = ["Measurement", "Scale"]
