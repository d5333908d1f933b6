"""The shared settings kernel: passwords never reach a log line, an error or a repr."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stepmetrics.cli.up import ready_line
from stepmetrics.envvars import bad_value, redact
from stepmetrics.processors.settings import ProcessorSettings
from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.stack.launcher import Launcher, Ports
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import StackState
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.settings import StoreSettings

SECRET = "secret"  # noqa: S105 - a test value
URLS = ["redis://user:secret@host:6379/0", "rediss://:secret@host"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://:secret@host", "rediss://:***@host"),
        ("redis://:p@ss:secret@host/1", "redis://:***@host/1"),
        ("redis://host/0?password=secret&db=1", "redis://host/0?password=***&db=1"),
        ("at redis://u:secret@h:1 and u:secret@k:9092", "at redis://u:***@h:1 and u:***@k:9092"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("k1:9092,k2:9093", "k1:9092,k2:9093"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)  # fmt: skip
def test_redact_hides_passwords_only(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize("url", URLS)
def test_bad_value_redacts(url: str) -> None:
    assert SECRET not in bad_value("STEPMETRICS_REDIS_URL", url, "a URL")
    assert bad_value("X", 3, "a str") == "X=3 is not allowed: a str"


@pytest.mark.parametrize("url", URLS)
def test_settings_errors_and_reprs_hold_no_password(url: str) -> None:
    bad = url.replace("redis", "http", 1)
    with pytest.raises(StoreSettingsError) as store_error:
        StoreSettings(redis=RedisConnection(bad))
    with pytest.raises(StackSettingsError) as stack_error:
        StackSettings.from_env({"STEPMETRICS_REDIS_URL": bad})
    for text in (str(store_error.value), str(stack_error.value)):
        assert redact(bad) in text
        assert SECRET not in text
    for settings in (
        StoreSettings(redis=RedisConnection(url)),
        ProcessorSettings(redis=RedisConnection(url)),
        StackSettings(redis_url=url),
    ):
        assert SECRET not in repr(settings)


@pytest.mark.parametrize("url", URLS)
def test_up_ready_line_state_and_log_hold_no_password(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = StackState(1, "k:1", "t", "t.d", url, None, "tok")
    line = ready_line(state)
    assert SECRET not in line
    assert f"redis={redact(url)} " in line
    assert SECRET not in repr(state)
    launcher = Launcher(StackSettings(redis_url=url, data_dir=tmp_path), Ports())
    with caplog.at_level(logging.INFO):
        assert launcher._redis() == url  # the children still get the real URL
    assert redact(url) in caplog.text
    assert SECRET not in caplog.text
