"""Read Prometheus text exposition in tests, through prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    """Every sample of `text`: (sample name, labels) -> value."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def families(text: str) -> dict[str, str]:
    """Metric family name -> its type (counter, gauge, histogram...)."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def value(samples: Samples, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sample `name` with exactly `labels`; KeyError naming what exists if absent."""
    key = (name, frozenset((labels or {}).items()))
    if key not in samples:
        known = sorted({n for n, _ in samples if n.startswith(name.rsplit("_", 1)[0])})
        raise KeyError(f"no sample {name}{dict(labels or {})}; similar names: {known}")
    return samples[key]


def labelled(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Labels -> value of every sample called `name`."""
    return {labels: v for (n, labels), v in samples.items() if n == name}
