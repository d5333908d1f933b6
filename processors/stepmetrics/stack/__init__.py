"""The embedded local stack: a broker and a Redis as child processes, plus the app."""

from stepmetrics.stack.errors import StackError
from stepmetrics.stack.services import (
    ManagedProcess,
    free_port,
    start_broker,
    start_redis,
)

__all__ = ["ManagedProcess", "StackError", "free_port", "start_broker", "start_redis"]
