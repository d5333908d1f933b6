"""The embedded local stack: a broker and a Redis as child processes, plus the app."""

from stepmetrics.stack.errors import StackError, StackSettingsError
from stepmetrics.stack.services import (
    ManagedProcess,
    free_port,
    start_broker,
    start_redis,
)
from stepmetrics.stack.settings import StackSettings

__all__ = [
    "ManagedProcess",
    "StackError",
    "StackSettings",
    "StackSettingsError",
    "free_port",
    "start_broker",
    "start_redis",
]
