"""The user-facing facade outside a step: warnings at the caller's line, nothing sent."""

from __future__ import annotations

import inspect
import sys
import types
import warnings

import pytest

from stepmetrics.producers import ProducerSettings, Recorder, StepMetricsWarning
from stepmetrics.producers.errors import InvalidMetricTypeError, SettingsError
from stepmetrics.sdk import CraftAiSdk
from tests.support.processes import loaded_after_import

UNUSED = ProducerSettings(bootstrap="127.0.0.1:9", topic="never")


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch) -> CraftAiSdk:
    monkeypatch.delenv("STEPMETRICS_EXECUTION_ID", raising=False)
    return CraftAiSdk(recorder=Recorder(UNUSED))


def test_outside_a_step_warns_at_the_callers_line(outside: CraftAiSdk) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        sent = outside.record_metric_value("accuracy", 0.5)
        result = outside.record_list_metric_values("loss_list", [1.0, 2.0])  # type: ignore[func-returns-value]
    assert sent is False
    assert result is None
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line), (__file__, line + 1)]
    assert all(issubclass(w.category, UserWarning) for w in caught)
    assert "'accuracy' has not been sent" in str(caught[0].message)
    assert "'loss_list' has not been sent" in str(caught[1].message)
    stats = outside.stats()
    assert (stats.recorded, stats.pending) == (0, 0)
    assert outside.recorder._sender is None  # nothing started, nothing sent
    assert outside.flush(0) is True


def test_outside_a_step_bad_input_still_raises(outside: CraftAiSdk) -> None:
    with pytest.raises(InvalidMetricTypeError, match="'x': value True"):
        outside.record_metric_value("x", True)
    with pytest.raises(InvalidMetricTypeError, match="None at index 1"):
        outside.record_list_metric_values("x", [1.0, None])


def test_warning_category_is_a_user_warning(outside: CraftAiSdk) -> None:
    with pytest.warns(StepMetricsWarning, match="not inside a step"):
        outside.record_metric_value("m", 1)
    assert issubclass(StepMetricsWarning, UserWarning)


def test_incomplete_step_environment_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPMETRICS_EXECUTION_ID", "exec-9")
    monkeypatch.delenv("STEPMETRICS_PIPELINE_NAME", raising=False)
    with pytest.raises(SettingsError, match="STEPMETRICS_PIPELINE_NAME"):
        CraftAiSdk()


def test_importing_the_sdk_stays_light() -> None:
    heavy = ("aiokafka", "httpx", "faust", "stepmetrics.store")
    assert loaded_after_import("stepmetrics.sdk", heavy) == []


def test_queries_delegate_lazily_to_the_store_client(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, object]]] = []

    class FakeClient:
        # Stands in for the HTTP client: this test is about the lazy import
        # and the arguments; tests/integration/test_end_to_end.py uses the real one.
        @classmethod
        def from_env(cls) -> FakeClient:
            return cls()

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc_info: object) -> None:
            calls.append(("close", {}))

        def get_metrics(self, **filters: object) -> list[dict[str, object]]:
            calls.append(("get_metrics", filters))
            return [{"name": "acc"}]

        def get_list_metrics(self, **filters: object) -> list[dict[str, object]]:
            calls.append(("get_list_metrics", filters))
            return []

    module = types.ModuleType("stepmetrics.store.client")
    module.MetricsClient = FakeClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stepmetrics.store.client", module)
    # As documented: called on the class, and on an instance.
    assert CraftAiSdk.get_metrics(name="acc") == [{"name": "acc"}]
    sdk = CraftAiSdk(recorder=Recorder(UNUSED))
    assert sdk.get_list_metrics(name="accuracy_list", pipeline_name="my_pipeline") == []
    none = {"name": None, "pipeline_name": None, "deployment_name": None, "execution_id": None}
    assert calls == [
        ("get_metrics", {**none, "name": "acc"}),
        ("close", {}),
        ("get_list_metrics", {**none, "name": "accuracy_list", "pipeline_name": "my_pipeline"}),
        ("close", {}),
    ]
