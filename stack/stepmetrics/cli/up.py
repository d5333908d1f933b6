"""`stepmetrics up`: run the whole local stack in the foreground.

Prints one line `stepmetrics ready: api=<url> worker_metrics=<url>
kafka=<host:port> redis=<url> token=<token>` on stdout once everything answers
(the api and worker_metrics pairs only when the API and the worker are
installed); everything else goes to stderr. Ctrl-C or SIGTERM stops
every child and exits 0; a child that dies is reported with the tail of its
log and `up` exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_USAGE
from stepmetrics.envvars import redact
from stepmetrics.processors.settings import METRICS_PORT
from stepmetrics.stack.errors import StackError, StackSettingsError
from stepmetrics.stack.launcher import Launcher, Ports
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import StackState

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def ready_line(state: StackState) -> str:
    """The one line that tells people and scripts the stack answers."""
    pairs = [] if state.api is None else [f"api={state.api}"]
    if state.worker_metrics is not None:
        pairs.append(f"worker_metrics={state.worker_metrics}")
    # Passwords in the URLs stay in the state file (`stepmetrics env`), not on screen.
    pairs += [f"kafka={redact(state.kafka)}", f"redis={redact(state.redis)}"]
    pairs.append(f"token={state.token}")
    return "stepmetrics ready: " + " ".join(pairs)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stepmetrics up",
        description="Run the local stack (broker, Redis, worker, reader API) until "
        "Ctrl-C. External Kafka/Redis are used instead when "
        "STEPMETRICS_KAFKA_BOOTSTRAP / STEPMETRICS_REDIS_URL are set.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where data, logs and the state file go "
        "(default: $STEPMETRICS_DATA_DIR or ./.stepmetrics)",
    )
    standards = (("kafka", 9092), ("redis", 6379), ("api", 8080))
    for name, standard in (*standards, ("worker-metrics", METRICS_PORT.default)):
        parser.add_argument(
            f"--{name}-port",
            type=_port,
            help=f"{name} port on 127.0.0.1 (default: {standard} when free, else a free one)",
        )
    return parser.parse_args(argv)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


@contextmanager
def _stop_on_signals(launcher: Launcher) -> Iterator[None]:
    """Turn Ctrl-C/SIGTERM/SIGHUP into `launcher.stopping` (polled, never raised)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        logger.info("got %s, stopping", signal.Signals(signum).name)
        launcher.stopping = True

    previous = {signum: signal.signal(signum, handle) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _announce(state: StackState) -> None:
    print(ready_line(state), flush=True)


def main(argv: list[str]) -> int:
    """Run the stack until stopped; the exit code is 0 after Ctrl-C/SIGTERM."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s up %(levelname)s %(message)s"
    )
    try:
        settings = StackSettings.from_env()
    except StackSettingsError as exc:
        print(f"stepmetrics up: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.data_dir is not None:
        settings = dataclasses.replace(settings, data_dir=args.data_dir)
    ports = Ports(args.kafka_port, args.redis_port, args.api_port, args.worker_metrics_port)
    launcher = Launcher(settings, ports)
    with _stop_on_signals(launcher):
        try:
            return launcher.run(_announce)
        except StackError as exc:
            print(f"stepmetrics up: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        finally:
            launcher.shutdown()
