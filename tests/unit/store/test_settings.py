"""Store, API and client settings: defaults, validation, secrets out of repr."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stepmetrics.store import connection
from stepmetrics.store import settings as store_settings
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.settings import ApiSettings, ClientSettings, StoreSettings

SECRET = "s3cret-token-value"  # noqa: S105


def test_defaults_and_environment() -> None:
    assert StoreSettings.from_env({}) == StoreSettings(
        RedisConnection("redis://127.0.0.1:6379/0"), "stepmetrics"
    )
    api = ApiSettings.from_env(
        {
            "STEPMETRICS_API_TOKEN": SECRET,
            "STEPMETRICS_API_PORT": "9000",
            "STEPMETRICS_REDIS_PREFIX": "other",
        }
    )
    assert (api.host, api.port, api.store.redis_prefix) == ("127.0.0.1", 9000, "other")
    client = ClientSettings.from_env(
        {"STEPMETRICS_API_TOKEN": SECRET, "STEPMETRICS_API_URL": "http://h:1/"}
    )
    assert (client.api_url, client.timeout) == ("http://h:1", 30.0)
    assert SECRET not in repr(api)
    assert SECRET not in repr(client)


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"STEPMETRICS_REDIS_URL": "http://x"}, "STEPMETRICS_REDIS_URL='http://x'"),
        ({"STEPMETRICS_REDIS_PREFIX": "a b"}, "STEPMETRICS_REDIS_PREFIX='a b'"),
        ({"STEPMETRICS_API_PORT": "eighty"}, "STEPMETRICS_API_PORT='eighty'"),
        ({"STEPMETRICS_API_PORT": "70000"}, "STEPMETRICS_API_PORT=70000"),
        ({"STEPMETRICS_API_TOKEN": ""}, "STEPMETRICS_API_TOKEN is not set"),
        ({"STEPMETRICS_API_TOKEN": "short"}, "at least 8 characters"),
    ],
)
def test_api_settings_name_the_bad_variable(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(StoreSettingsError) as caught:
        ApiSettings.from_env({"STEPMETRICS_API_TOKEN": SECRET, **environ})
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"STEPMETRICS_API_URL": "ftp://x"}, "STEPMETRICS_API_URL='ftp://x'"),
        ({"STEPMETRICS_API_TIMEOUT": "soon"}, "STEPMETRICS_API_TIMEOUT='soon'"),
        ({"STEPMETRICS_API_TIMEOUT": "0"}, "STEPMETRICS_API_TIMEOUT=0.0"),
        ({"STEPMETRICS_API_TOKEN": ""}, "STEPMETRICS_API_TOKEN is not set"),
    ],
)
def test_client_settings_name_the_bad_variable(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(StoreSettingsError, match="STEPMETRICS_"):
        ClientSettings.from_env({"STEPMETRICS_API_TOKEN": SECRET, **environ})
    with pytest.raises(StoreSettingsError) as caught:
        ClientSettings.from_env({"STEPMETRICS_API_TOKEN": SECRET, **environ})
    assert fragment in str(caught.value)


def test_env_vars_lists_every_variable_read() -> None:
    modules = (store_settings, connection)  # the connection's variables are the store's
    source = "".join(Path(m.__file__ or "").read_text(encoding="utf-8") for m in modules)
    named = set(re.findall(r'"(STEPMETRICS_[A-Z_]+)"', source))
    assert named == store_settings.ENV_VARS
