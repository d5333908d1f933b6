"""The stepmetrics processes `up` runs: the worker and the reader API.

Each runs as `python -m stepmetrics.cli <command>` in a directory of its own
under the data directory, configured only through STEPMETRICS_* variables, the
same way docker-compose runs them.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from stepmetrics.cli import COMMANDS
from stepmetrics.processors.ready import WORKER_READY
from stepmetrics.stack.services import ManagedProcess, spawn


@dataclass(frozen=True, slots=True)
class App:
    """A stepmetrics command `up` runs and how to tell that it answers.

    Attributes:
        name: `worker` or `api`; also the name of its directory and log.
        command: The `stepmetrics` subcommand that runs it.
        ready: True once the started process answers.
        launch: A different argv to run instead of the subcommand (tests).
    """

    name: str
    command: str
    ready: Callable[[ManagedProcess], bool]
    launch: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return COMMANDS[self.command].module

    def installed(self) -> bool:
        """True if the command's module is part of this installation."""
        if self.launch:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except ImportError:  # a parent package is missing
            return False

    def start(self, data_dir: Path, address: str, env: Mapping[str, str]) -> ManagedProcess:
        argv = list(self.launch) or [sys.executable, "-m", "stepmetrics.cli", self.command]
        return spawn(self.name, argv, data_dir / self.name, address, env, die_with_parent=True)


def worker_ready(managed: ManagedProcess) -> bool:
    """The worker says it consumes by printing `stepmetrics worker ready`."""
    return WORKER_READY in managed.log_since_start()


def api_ready(managed: ManagedProcess) -> bool:
    """The API answers `GET /healthz` with 200."""
    try:
        # trust_env=False: a proxy from the environment must not see loopback calls.
        response = httpx.get(f"{managed.address}/healthz", timeout=0.5, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == httpx.codes.OK


WORKER: Final = App("worker", "worker", worker_ready)
API: Final = App("api", "api", api_ready)
APPS: Final = (WORKER, API)
