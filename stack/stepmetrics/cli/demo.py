"""`stepmetrics demo`: record example executions into the running stack.

Records, through the step SDK exactly as step code would, the documentation's
two examples and a training-like run with thousands of steps, waits until the
reader API shows them, and prints where to look in the web interface.

The stack is found like `stepmetrics env` finds it (the state file of
`stepmetrics up`), unless STEPMETRICS_KAFKA_BOOTSTRAP is already set, in which
case the environment is used as is (e.g. after `eval "$(stepmetrics env)"`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import httpx

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK
from stepmetrics.producers.context import step_context
from stepmetrics.producers.settings import BOOTSTRAP
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.demo_runs import DemoRun, demo_runs
from stepmetrics.stack.errors import StackError
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import read_state
from stepmetrics.store.endpoints import execution_path
from stepmetrics.store.settings import API_TOKEN, API_URL

DEFAULT_STEPS: Final = 5000
MAX_STEPS: Final = 50_000  # a list metric holds at most 50,000 values
DEFAULT_TIMEOUT: Final = 60.0
_POLL_SECONDS: Final = 0.2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stepmetrics demo",
        description="Record example executions into the running stack "
        "(the documented examples and a training-like run).",
    )
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="training steps")
    parser.add_argument(
        "--live",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="spread the training run over SECONDS, to watch the page update live",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    parser.add_argument("--data-dir", type=Path, help="data directory of `stepmetrics up`")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= MAX_STEPS:
        parser.error(f"--steps {args.steps} is not allowed: 1 to {MAX_STEPS}")
    if args.live < 0 or args.timeout <= 0:
        parser.error("--live must be >= 0 and --timeout > 0")
    return args


def stack_environment(environ: Mapping[str, str], data_dir: Path | None) -> dict[str, str]:
    """Variables to add so that the SDK and the API calls reach the running stack."""
    if environ.get(BOOTSTRAP.name):
        return {}
    settings = StackSettings.from_env(environ)
    return read_state(data_dir or settings.data_dir).exports()


def main(argv: list[str]) -> int:
    """Record the demo executions; 0 once the API shows all of them."""
    args = parse_args(argv)
    try:
        os.environ.update(stack_environment(os.environ, args.data_dir))
    except StackError as exc:
        print(f"stepmetrics demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    api = os.environ.get(API_URL.name, "").rstrip("/")
    token = os.environ.get(API_TOKEN.name, "")
    tag = uuid.uuid4().hex[:8]
    runs = {f"demo-{run.kind}-{tag}": run for run in demo_runs(args.steps, args.live)}
    sdk = CraftAiSdk()
    for execution_id, run in runs.items():
        if args.live and api and run.kind == "training":
            print(f"recording {execution_id} live: {api}/executions/{execution_id}", flush=True)
        with step_context(execution_id, run.pipeline_name, run.deployment_name):
            run.record(sdk)
    if not sdk.flush(args.timeout):
        print("stepmetrics demo: the broker did not take every metric in time", file=sys.stderr)
        return EXIT_FAILED
    if not (api and token):
        print("recorded; set STEPMETRICS_API_URL and STEPMETRICS_API_TOKEN to check them")
        return EXIT_OK
    try:
        wait_until_stored(api, token, runs, args.timeout)
    except StackError as exc:
        print(f"stepmetrics demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for execution_id, run in runs.items():
        counts = f"{len(run.scalars)} metrics, {len(run.lists)} list metrics"
        print(f"{run.pipeline_name}: {api}/executions/{execution_id} ({counts})")
    print(f"open {api}/ and sign in with the API token that `stepmetrics up` printed")
    return EXIT_OK


def wait_until_stored(api: str, token: str, runs: Mapping[str, DemoRun], timeout: float) -> None:
    """Poll the reader API until every run is stored in full.

    Raises:
        StackError: not all there within `timeout` seconds (says which is missing).
    """
    deadline = time.monotonic() + timeout
    pending = dict(runs)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=headers, timeout=5.0, trust_env=False) as client:
        while pending:
            for execution_id in [e for e, run in pending.items() if _stored(client, e, run)]:
                del pending[execution_id]
            if pending and time.monotonic() > deadline:
                raise StackError(
                    f"not stored within {timeout}s: {', '.join(sorted(pending))}; "
                    "is the worker running (see `stepmetrics up`)?"
                )
            if pending:
                time.sleep(_POLL_SECONDS)


def _stored(client: httpx.Client, execution_id: str, run: DemoRun) -> bool:
    try:
        response = client.get(execution_path(execution_id))
    except httpx.HTTPError as exc:
        raise StackError(f"the reader API at {client.base_url} does not answer: {exc}") from exc
    if response.status_code == httpx.codes.NOT_FOUND:
        return False
    if response.status_code != httpx.codes.OK:
        raise StackError(f"the reader API answered {response.status_code}: {response.text:.200}")
    doc = response.json()
    scalars = {metric["name"] for metric in doc["scalars"]}
    lists = {item["name"]: item["length"] for item in doc["lists"]}
    return scalars >= run.scalars and all(lists.get(n) == k for n, k in run.lists.items())
