"""`stepmetrics delete --execution ID [--yes]`: delete one execution through the reader API.

Needs the admin token (`STEPMETRICS_API_ADMIN_TOKEN`; `stepmetrics env`
exports the local stack's). On a terminal it asks before deleting unless
`--yes`; without a terminal it refuses unless `--yes` (a script must say so).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.errors import StoreError, StoreQueryError, StoreSettingsError
from stepmetrics.store.settings import API_ADMIN_TOKEN, API_URL, ClientSettings

PROG = "stepmetrics delete"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Delete one execution (its metrics and index entries) through the reader "
        f"API at {API_URL.name} with the admin token {API_ADMIN_TOKEN.name}. The worker then "
        "applies nothing more to it until its tombstone expires (STEPMETRICS_TOMBSTONE_SECONDS).",
    )
    parser.add_argument("--execution", required=True, help="the execution id")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def _shown(execution_id: str) -> str:
    """The id quoted, at most 100 characters of it (it came from the user)."""
    return repr(execution_id[:100]) + ("…" if len(execution_id) > 100 else "")


def confirmed(execution_id: str, stdin: TextIO, ask: Callable[[str], str]) -> bool | None:
    """True to go on, False when the user said no, None when nobody can be
    asked (stdin is not a terminal)."""
    if not stdin.isatty():
        return None
    answer = ask(f"Delete execution {_shown(execution_id)} and all its metrics? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None, ask: Callable[[str], str] = input) -> int:
    """0 deleted, 1 not found or the API refused, 2 bad usage or settings."""
    args = _parser().parse_args(argv)
    if not args.yes:
        go = confirmed(args.execution, sys.stdin, ask)
        if go is None:
            print(
                f"{PROG}: refusing to delete without confirmation: stdin is not a terminal; "
                "pass --yes to delete anyway",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if not go:
            print(f"{PROG}: nothing deleted", file=sys.stderr)
            return EXIT_FAILED
    try:
        with MetricsClient(ClientSettings.admin_from_env()) as client:
            deleted = client.delete_execution(args.execution)
    except (StoreSettingsError, StoreQueryError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not deleted:
        print(
            f"{PROG}: execution {_shown(args.execution)} not found (or deleted before)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"deleted execution {_shown(args.execution)}")
    return EXIT_OK
