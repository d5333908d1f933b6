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


# Bad values of the other variables: tests/unit/test_envvars.py (one wording for all).
@pytest.mark.parametrize(
    ("settings", "token", "fragment"),
    [
        (ApiSettings, "", "STEPMETRICS_API_TOKEN is not set"),
        (ApiSettings, "short", "at least 8 characters"),
        (ClientSettings, "", "STEPMETRICS_API_TOKEN is not set"),
    ],
)
def test_a_bad_token_is_named_but_never_echoed(
    settings: type[ApiSettings | ClientSettings], token: str, fragment: str
) -> None:
    with pytest.raises(StoreSettingsError, match="STEPMETRICS_API_TOKEN") as caught:
        settings.from_env({"STEPMETRICS_API_TOKEN": token})
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert not token or token not in str(caught.value)


def test_env_vars_lists_every_variable_read() -> None:
    modules = (store_settings, connection)  # the connection's variables are the store's
    source = "".join(Path(m.__file__ or "").read_text(encoding="utf-8") for m in modules)
    named = set(re.findall(r'"(STEPMETRICS_[A-Z_]+)"', source))
    assert named == store_settings.ENV_VARS


def test_the_admin_token_is_optional_checked_and_never_the_read_token() -> None:
    plain = ApiSettings.from_env({"STEPMETRICS_API_TOKEN": SECRET})
    assert (plain.admin_token, plain.deleting) == ("", False)
    admin = "admin-" + SECRET
    api = ApiSettings.from_env(
        {"STEPMETRICS_API_TOKEN": SECRET, "STEPMETRICS_API_ADMIN_TOKEN": admin}
    )
    assert api.deleting
    assert admin not in repr(api)
    with pytest.raises(StoreSettingsError, match=r"STEPMETRICS_API_ADMIN_TOKEN.*at least 8"):
        ApiSettings(token=SECRET, admin_token="short")  # noqa: S106
    with pytest.raises(StoreSettingsError, match="must differ from STEPMETRICS_API_TOKEN"):
        ApiSettings(token=SECRET, admin_token=SECRET)


def test_tombstones_outlive_the_topic_by_default_and_are_bounded() -> None:
    assert StoreSettings.from_env({}).tombstone_seconds == 30 * 86_400
    assert StoreSettings.from_env({"STEPMETRICS_TOMBSTONE_SECONDS": "60"}).tombstone_seconds == 60
    for bad in ("0", str(11 * 365 * 86_400)):
        with pytest.raises(StoreSettingsError, match="STEPMETRICS_TOMBSTONE_SECONDS"):
            StoreSettings.from_env({"STEPMETRICS_TOMBSTONE_SECONDS": bad})
