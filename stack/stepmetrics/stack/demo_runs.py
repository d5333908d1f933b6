"""What `stepmetrics demo` records: the documented examples and a training run.

Each function is step code, written as a user would write it with the SDK; the
caller wraps it in `step_context(...)` for its execution.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stepmetrics.sdk import CraftAiSdk

# Recorded every VALIDATION_EVERY training steps.
VALIDATION_EVERY = 100


Record = Callable[[CraftAiSdk], None]


@dataclass(frozen=True, slots=True)
class DemoRun:
    """One demo execution: its step code and what the store must hold afterwards."""

    kind: str
    pipeline_name: str
    deployment_name: str | None
    record: Record
    scalars: frozenset[str]
    lists: dict[str, int] = field(default_factory=dict)  # name -> expected length


def documented_metrics(sdk: CraftAiSdk) -> None:
    """The documentation's `record_metric_value` example."""
    sdk.record_metric_value("accuracy", 0.1409)
    sdk.record_metric_value("loss", 1 / 3)


def documented_list_metrics(sdk: CraftAiSdk) -> None:
    """The documentation's `record_list_metric_values` example."""
    sdk.record_list_metric_values("accuracy_list", [0.89, 0.92, 0.95])
    sdk.record_list_metric_values("loss_list", [1.4, 1.2])
    sdk.record_list_metric_values("loss_list", [1.1, 1.0])
    for i in range(1, 50):
        sdk.record_list_metric_values("logx", math.log(i))


def training_run(steps: int, seconds: float = 0.0) -> Record:
    """A training-like run of `steps` steps, spread over `seconds` (0: at once).

    Loss decays with noise, the learning rate warms up then follows a cosine,
    the gradient norm has spikes and two mixed-precision overflow steps (inf,
    then NaN) so the charts show non-finite markers.
    """

    def run(sdk: CraftAiSdk) -> None:
        rng = random.Random(1409)  # noqa: S311 - demo data, not security
        pause = seconds / steps if seconds > 0 else 0.0
        best_val = math.inf
        for step in range(steps):
            progress = step / steps
            noise = abs(rng.gauss(0, 0.04 + 0.1 * (1 - progress)))
            loss = 2.3 * math.exp(-5 * progress) + 0.08 + noise
            sdk.record_list_metric_values("train_loss", loss)
            sdk.record_list_metric_values("learning_rate", _learning_rate(step, steps))
            sdk.record_list_metric_values("grad_norm", _grad_norm(rng, step, steps))
            if (step + 1) % VALIDATION_EVERY == 0:
                val_loss = 2.3 * math.exp(-4.5 * progress) + 0.12 + rng.gauss(0, 0.01)
                best_val = min(best_val, val_loss)
                sdk.record_list_metric_values("val_loss", val_loss)
                sdk.record_metric_value("best_val_loss", best_val)
                sdk.record_metric_value("val_accuracy", 0.97 - 0.87 * math.exp(-5 * progress))
            if pause:
                time.sleep(pause)
        sdk.record_metric_value("steps", steps)
        sdk.record_metric_value("accuracy", 0.9512)
        sdk.record_metric_value("params_millions", 11.7)

    return run


def _learning_rate(step: int, steps: int) -> float:
    warmup = max(1, steps // 25)
    if step < warmup:
        return 3e-4 * (step + 1) / warmup
    return 3e-4 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def _grad_norm(rng: random.Random, step: int, steps: int) -> float:
    if step == steps // 3:
        return math.inf  # an fp16 overflow: the loss scaler skips this step
    if step == steps // 3 + 1:
        return math.nan
    spike = 6.0 if rng.random() < 0.004 else 1.0
    return spike * (1.5 * math.exp(-3 * step / steps) + 0.3 + abs(rng.gauss(0, 0.15)))


def demo_runs(steps: int, seconds: float = 0.0) -> list[DemoRun]:
    """The executions `stepmetrics demo` records, with their expected contents.

    Args:
        steps: training steps of the training-like run (one value per step
            in each of its per-step lists, at most 50,000).
        seconds: spread the training run over this long (0: record at once).
    """
    validations = steps // VALIDATION_EVERY
    training_scalars = {"steps", "accuracy", "params_millions"}
    training_lists = {"train_loss": steps, "learning_rate": steps, "grad_norm": steps}
    if validations:
        training_scalars |= {"best_val_loss", "val_accuracy"}
        training_lists["val_loss"] = validations
    return [
        DemoRun(
            "metrics",
            "demo-metrics",
            "demo-metrics-endpoint",
            documented_metrics,
            frozenset({"accuracy", "loss"}),
        ),
        DemoRun(
            "list-metrics",
            "demo-list-metrics",
            None,
            documented_list_metrics,
            frozenset(),
            {"accuracy_list": 3, "loss_list": 4, "logx": 49},
        ),
        DemoRun(
            "training",
            "demo-training",
            "demo-nightly",
            training_run(steps, seconds),
            frozenset(training_scalars),
            training_lists,
        ),
    ]
