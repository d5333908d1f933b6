"""The state file a running `stepmetrics up` leaves in its data directory.

It tells `stepmetrics env` (and tests) where the stack's services are. It holds
the API token and the Redis password, so it is written with mode 0600,
atomically: a fresh temp file opened with `O_CREAT|O_EXCL|O_NOFOLLOW` (no
existing file or planted symlink is ever written through), then renamed. A
state file another user owns is refused, never read or replaced.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import orjson

from stepmetrics.producers.settings import BOOTSTRAP, TOPIC
from stepmetrics.stack.errors import StackError
from stepmetrics.store.connection import REDIS_URL
from stepmetrics.store.settings import API_TOKEN, API_URL

STATE_FILE: Final = "stack.json"


@dataclass(frozen=True, slots=True)
class StackState:
    """Addresses of a running stack.

    Attributes:
        pid: Process id of `stepmetrics up`.
        kafka: Bootstrap servers (`host:port[,...]`).
        topic: The metrics topic.
        deadletter_topic: The dead-letter topic.
        redis: Redis URL (with the embedded redis-server's password).
        api: Reader API base URL; None while the API is not installed.
        token: The reader API token.
        children: Process ids of the children `up` started, by name.
        worker_metrics: URL of the worker's Prometheus `/metrics`; None while
            the worker is not installed.
    """

    pid: int
    kafka: str
    topic: str
    deadletter_topic: str
    redis: str = field(repr=False)  # may hold a password: in the 0600 file, not in repr
    api: str | None
    token: str = field(repr=False)
    children: dict[str, int] = field(default_factory=dict)
    worker_metrics: str | None = None

    def exports(self) -> dict[str, str]:
        """The variables a step process needs to record into this stack, and
        the Redis URL a worker or reader API of this stack needs."""
        env = {
            BOOTSTRAP.name: self.kafka,
            TOPIC.name: self.topic,
            API_TOKEN.name: self.token,
            REDIS_URL.name: self.redis,
        }
        if self.api is not None:
            env[API_URL.name] = self.api
        return env


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def write_state(data_dir: Path, state: StackState) -> Path:
    """Write `state` atomically, readable by the owner only."""
    path = state_path(data_dir)
    check_owner(path)
    tmp = path.with_name(f".{STATE_FILE}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(asdict(state), option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_owner(path: Path) -> None:
    """Refuse a state file (or a symlink in its place) another user owns."""
    try:
        owner = path.lstat().st_uid
    except FileNotFoundError:
        return
    if owner != os.getuid():
        raise StackError(
            f"{path} belongs to another user (uid {owner}): refusing to read or replace it; "
            "use a data directory of your own (--data-dir)"
        )


def remove_state(data_dir: Path) -> None:
    state_path(data_dir).unlink(missing_ok=True)


def read_state(data_dir: Path) -> StackState:
    """Read the state of the stack running from `data_dir`.

    Raises:
        StackError: no state file, an unreadable one, or its `up` is gone.
    """
    path = state_path(data_dir)
    check_owner(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            raw = orjson.loads(fh.read())
        state = StackState(**raw)
    except FileNotFoundError:
        raise StackError(
            f"no running stack found ({path} does not exist): start one with `stepmetrics up`"
        ) from None
    except (OSError, orjson.JSONDecodeError, TypeError) as exc:
        raise StackError(f"cannot read the stack state file {path}: {exc}") from exc
    if not _alive(state.pid):
        raise StackError(
            f"the stack that wrote {path} (pid {state.pid}) is no longer running: "
            "start one with `stepmetrics up`"
        )
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
