"""The documented examples end to end: step processes record through the SDK,
the real broker carries the envelopes, the real worker writes Redis, the real
reader API serves them, and `CraftAiSdk.get_*` returns exactly what was recorded.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import ManagedProcess
from tests.support.documented import LIST_EXAMPLE, SCALAR_EXAMPLE
from tests.support.redis_targets import BOTH_REDIS_MODES, RedisTarget
from tests.support.web_stack import TOKEN, WebStack, start_web_stack

KEYS = {"name", "value", "created_at", "execution_id", "deployment_name", "pipeline_name"}

# A second run of the scalar pipeline: same name recorded again (last wins), and
# a diverging loss, which must come back as a float NaN.
RERUN = """
from stepmetrics.sdk import CraftAiSdk

sdk = CraftAiSdk()
sdk.record_metric_value("accuracy", 0.5)
sdk.record_metric_value("accuracy", 0.75)
sdk.record_metric_value("loss", float("nan"))
sdk.record_list_metric_values("loss_list", [float("inf"), -1.0])
"""


class Run:
    def __init__(self, pipeline: str, deployment: str, code: str) -> None:
        self.execution_id = f"exec-{uuid.uuid4().hex[:10]}"
        self.pipeline = pipeline
        self.deployment = deployment
        self.code = code
        self.started = self.finished = datetime.now(UTC)


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, broker: ManagedProcess, redis_target: RedisTarget
) -> Iterator[dict[str, Run]]:
    stack = start_web_stack(tmp_path_factory.mktemp("e2e"), broker.address, redis_target)
    recorded = {
        "scalars": Run("metrics-pipeline", "metrics-deployment", SCALAR_EXAMPLE),
        "lists": Run("list-pipeline", "list-deployment", LIST_EXAMPLE),
        "rerun": Run("metrics-pipeline", "rerun-deployment", RERUN),
    }
    try:
        for run in recorded.values():
            run.started = datetime.now(UTC)
            stack.step(run.execution_id, run.code, pipeline=run.pipeline, deployment=run.deployment)
            run.finished = datetime.now(UTC)
        _wait_until_queryable(stack, recorded)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STEPMETRICS_API_URL", stack.api)
            env.setenv("STEPMETRICS_API_TOKEN", TOKEN)
            yield recorded
    finally:
        stack.stop()


def _wait_until_queryable(stack: WebStack, recorded: dict[str, Run]) -> None:
    expected = {"scalars": (2, 0), "lists": (0, 3), "rerun": (2, 1)}
    for key, counts in expected.items():

        def has_counts(doc: dict[str, Any], counts: tuple[int, int] = counts) -> bool:
            return (doc["scalar_count"], doc["list_count"]) == counts

        stack.wait_for(recorded[key].execution_id, has_counts)
    # The list of the list example is complete once its 49th logx value landed.
    stack.wait_for(
        recorded["lists"].execution_id,
        lambda doc: (
            {m["name"]: m["length"] for m in doc["lists"]}
            == {"accuracy_list": 3, "loss_list": 4, "logx": 49}
        ),
    )


def _by_execution(
    metrics: list[dict[str, Any]], runs: dict[str, Run]
) -> dict[tuple[str, str], Any]:
    """{(run key, metric name): value} for the given results."""
    keys = {run.execution_id: key for key, run in runs.items()}
    return {(keys[m["execution_id"]], m["name"]): m["value"] for m in metrics}


@BOTH_REDIS_MODES
def test_every_result_has_exactly_the_documented_keys_and_context(runs: dict[str, Run]) -> None:
    metrics = CraftAiSdk.get_metrics(execution_id=runs["scalars"].execution_id)
    assert {frozenset(m) for m in metrics} == {frozenset(KEYS)}
    run = runs["scalars"]
    for metric in metrics:
        assert metric["pipeline_name"] == run.pipeline
        assert metric["deployment_name"] == run.deployment
        created = datetime.fromisoformat(metric["created_at"])
        assert created.utcoffset() is not None
        assert created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert run.started <= created <= run.finished


@BOTH_REDIS_MODES
def test_get_metrics_by_execution_keeps_the_last_value(runs: dict[str, Run]) -> None:
    first = CraftAiSdk.get_metrics(execution_id=runs["scalars"].execution_id)
    assert [(m["name"], m["value"]) for m in first] == [("accuracy", 0.1409), ("loss", 1 / 3)]
    rerun = {
        m["name"]: m["value"]
        for m in CraftAiSdk.get_metrics(execution_id=runs["rerun"].execution_id)
    }
    assert rerun["accuracy"] == 0.75
    assert isinstance(rerun["loss"], float)
    assert math.isnan(rerun["loss"])


@BOTH_REDIS_MODES
def test_get_metrics_by_name_pipeline_and_deployment(runs: dict[str, Run]) -> None:
    by_name = _by_execution(CraftAiSdk.get_metrics(name="accuracy"), runs)
    assert by_name == {("scalars", "accuracy"): 0.1409, ("rerun", "accuracy"): 0.75}

    by_pipeline = _by_execution(CraftAiSdk.get_metrics(pipeline_name="metrics-pipeline"), runs)
    assert set(by_pipeline) == {
        ("scalars", "accuracy"),
        ("scalars", "loss"),
        ("rerun", "accuracy"),
        ("rerun", "loss"),
    }
    assert CraftAiSdk.get_metrics(pipeline_name="list-pipeline") == []

    by_deployment = _by_execution(CraftAiSdk.get_metrics(deployment_name="rerun-deployment"), runs)
    assert set(by_deployment) == {("rerun", "accuracy"), ("rerun", "loss")}


@BOTH_REDIS_MODES
def test_get_metrics_without_filter_returns_all_in_documented_order(runs: dict[str, Run]) -> None:
    metrics = CraftAiSdk.get_metrics()
    ours = [m for m in metrics if m["execution_id"] in {r.execution_id for r in runs.values()}]
    # Ordered by execution creation, then execution id, then metric name.
    assert [(m["execution_id"], m["name"]) for m in ours] == [
        (runs["scalars"].execution_id, "accuracy"),
        (runs["scalars"].execution_id, "loss"),
        (runs["rerun"].execution_id, "accuracy"),
        (runs["rerun"].execution_id, "loss"),
    ]


@BOTH_REDIS_MODES
def test_get_list_metrics_concatenates_in_record_order(runs: dict[str, Run]) -> None:
    lists = {
        m["name"]: m for m in CraftAiSdk.get_list_metrics(execution_id=runs["lists"].execution_id)
    }
    assert set(lists) == {"accuracy_list", "loss_list", "logx"}
    assert lists["accuracy_list"]["value"] == [0.89, 0.92, 0.95]
    assert lists["loss_list"]["value"] == [1.4, 1.2, 1.1, 1.0]
    assert lists["logx"]["value"] == [math.log(i) for i in range(1, 50)]
    assert {frozenset(m) for m in lists.values()} == {frozenset(KEYS)}


@BOTH_REDIS_MODES
def test_get_list_metrics_by_name_pipeline_and_deployment(runs: dict[str, Run]) -> None:
    by_name = _by_execution(CraftAiSdk.get_list_metrics(name="loss_list"), runs)
    assert by_name == {
        ("lists", "loss_list"): [1.4, 1.2, 1.1, 1.0],
        ("rerun", "loss_list"): [math.inf, -1.0],
    }
    by_pipeline = _by_execution(CraftAiSdk.get_list_metrics(pipeline_name="list-pipeline"), runs)
    assert set(by_pipeline) == {
        ("lists", "accuracy_list"),
        ("lists", "loss_list"),
        ("lists", "logx"),
    }
    by_deployment = CraftAiSdk.get_list_metrics(deployment_name="rerun-deployment")
    assert [(m["name"], m["value"]) for m in by_deployment] == [("loss_list", [math.inf, -1.0])]


@pytest.mark.parametrize("query", [CraftAiSdk.get_metrics, CraftAiSdk.get_list_metrics])
def test_more_than_one_filter_raises_before_any_request(
    query: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unreachable API proves no request is made: the error is the filter rule.
    monkeypatch.setenv("STEPMETRICS_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("STEPMETRICS_API_TOKEN", TOKEN)
    started = time.monotonic()
    with pytest.raises(ValueError, match="only one of") as info:
        query(name="accuracy", pipeline_name="metrics-pipeline")
    assert "name='accuracy'" in str(info.value)
    assert "pipeline_name='metrics-pipeline'" in str(info.value)
    assert time.monotonic() - started < 1.0
