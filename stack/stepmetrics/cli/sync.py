"""`stepmetrics sync`: send what the step SDK spooled (offline, or undelivered)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.producers.errors import ProducerError
from stepmetrics.producers.settings import BOOTSTRAP, MAX_REQUEST, SPOOL_DIR, ProducerSettings
from stepmetrics.producers.spool_sync import SyncReport, sync_directory


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="stepmetrics sync",
        description="Send the envelopes of the spool directory "
        f"({SPOOL_DIR.name}, default ~/.cache/stepmetrics/spool) to the broker at "
        f"{BOOTSTRAP.name}, oldest first, each to the topic it was recorded for; remove "
        "what was acknowledged. Safe to run twice or concurrently. Exit status 1 when "
        "envelopes are left unacknowledged or a damaged spool file was set aside.",
    )


def main(argv: list[str] | None = None) -> int:
    """Sync the spool with settings from the environment; return the exit code."""
    _parser().parse_args(argv)
    try:
        settings = ProducerSettings.from_env()
    except ProducerError as exc:
        print(f"stepmetrics sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = asyncio.run(sync_directory(settings, _progress))
    _print_report(settings.spool_directory(), report)
    return EXIT_FAILED if report.left or report.damaged else EXIT_OK


def _progress(line: str) -> None:
    print(f"stepmetrics sync: {line}", file=sys.stderr, flush=True)


def _print_report(directory: str, report: SyncReport) -> None:
    print(
        f"stepmetrics sync: {report.envelopes} envelope(s), {report.values} metric value(s) "
        f"delivered from {directory}; {report.files} spool file(s) done"
    )
    if report.refused:
        print(
            f"stepmetrics sync: {report.refused} envelope(s) refused for good "
            f"({report.refusal}), kept in the spool: fix the cause (topic rights, "
            f"{MAX_REQUEST.name}, ...), then sync again",
            file=sys.stderr,
        )
    if unacknowledged := report.left - report.refused:
        print(
            f"stepmetrics sync: {unacknowledged} envelope(s) not acknowledged, "
            "kept for the next sync",
            file=sys.stderr,
        )
    for path in report.busy:
        print(f"stepmetrics sync: {path} is in use (a running step or sync): skipped")
    for path, size in report.damaged:
        print(
            f"stepmetrics sync: damaged spool data ({size} byte(s)) set aside in {path}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
