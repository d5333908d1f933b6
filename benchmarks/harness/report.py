"""The outputs of a run: ratios to the peers, a printed table, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks.harness.runner import Measurement, Scale

FAMILY: Final = "ratios"
# (name, numerator (family, name), denominator (family, name), target)
RATIOS: Final = (
    (
        "e2e scalars / mlflow log_metric",
        ("e2e", "scalar events"),
        ("peers", "mlflow log_metric"),
        300.0,
    ),
    (
        "e2e scalars / mlflow log_batch(1000)",
        ("e2e", "scalar events"),
        ("peers", "mlflow log_batch(1000)"),
        None,
    ),
    (
        "e2e scalars / raw pipeline e2e",
        ("e2e", "scalar events"),
        ("peers", "raw pipeline end to end"),
        2.0,
    ),
    (
        "e2e scalars / best peer e2e",
        ("e2e", "scalar events"),
        ("peers", "best peer end to end"),
        0.5,
    ),
    (
        "sdk record_metric_value / mlflow log_metric",
        ("sdk", "record_metric_value"),
        ("peers", "mlflow log_metric"),
        None,
    ),
    (
        "sdk record_metric_value / raw produce",
        ("sdk", "record_metric_value"),
        ("peers", "raw pipeline produce"),
        None,
    ),
)


def ratios(measurements: Sequence[Measurement]) -> list[Measurement]:
    """Stepmetrics/peer ratios of the medians measured in this same run."""
    by_key = {(m.family, m.name): m for m in measurements}
    found = []
    for name, top, bottom, target in RATIOS:
        if top in by_key and bottom in by_key and by_key[bottom].value > 0:
            value = by_key[top].value / by_key[bottom].value
            found.append(
                Measurement(FAMILY, name, value, "x", target, note="ratio of medians, same run")
            )
    return found


def machine(load_before: Sequence[float]) -> dict[str, Any]:
    """What the numbers depend on: CPUs, load averages before/after, versions."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def write_json(
    path: Path,
    measurements: Sequence[Measurement],
    errors: dict[str, str],
    scale: Scale,
    info: dict[str, Any],
) -> None:
    """Write the whole run to `path` (directories created)."""
    doc = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": info,
        "scale": {"factor": scale.factor, "repeats": scale.repeats, "seconds": scale.seconds},
        "measurements": [m.as_dict() for m in measurements],
        "errors": errors,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _verdict(m: Measurement) -> str:
    if m.target is None:
        return ""
    sign = ">=" if m.higher_is_better else "<="
    return f"{sign} {_number(m.target)} {'ok' if m.met else 'MISSED'}"


def table(measurements: Sequence[Measurement]) -> str:
    """A plain-text table: one row per measurement, spread = min..max of repeats."""
    header = ("family", "benchmark", "median", "unit", "target", "spread")
    rows = [header]
    for m in measurements:
        spread = f"{_number(min(m.samples))}..{_number(max(m.samples))}" if m.samples else ""
        rows.append((m.family, m.name, _number(m.value), m.unit, _verdict(m), spread))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
