"""`stepmetrics export`: write executions as a file of envelopes (JSON Lines)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import BinaryIO

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.stack.export_limits import EnvelopeLimits
from stepmetrics.stack.exporter import ExportReport, Selection, export
from stepmetrics.store.connection import REDIS_URL
from stepmetrics.store.errors import StoreSettingsError, StoreUnavailableError
from stepmetrics.store.settings import StoreSettings

# The connect and reply timeout of the export's Redis client, in seconds.
REDIS_TIMEOUT = 30.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepmetrics export",
        description="Write the stored state of executions, read from the Redis at "
        f"{REDIS_URL.name}, as envelopes of the event contract, one per line "
        "(docs/export.md); `stepmetrics import FILE` produces them to another stack.",
    )
    one = parser.add_mutually_exclusive_group(required=True)
    one.add_argument("--execution", metavar="ID", help="one execution")
    one.add_argument("--pipeline", metavar="NAME", help="every execution of a pipeline")
    one.add_argument("--deployment", metavar="NAME", help="every execution of a deployment")
    parser.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """0 when everything selected was written, 1 when Redis failed or an
    execution is unknown, 2 on bad usage or settings."""
    args = _parser().parse_args(argv)
    selection = Selection(args.execution, args.pipeline, args.deployment)
    try:
        store = StoreSettings.from_env()
        limits = EnvelopeLimits.from_env()
    except (StoreSettingsError, StackSettingsError) as exc:
        print(f"stepmetrics export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = _run(store, limits, selection, args.output)
    except StoreUnavailableError as exc:
        print(f"stepmetrics export: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"stepmetrics export: cannot write {args.output or 'stdout'}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_report(report)
    return EXIT_FAILED if report.missing else EXIT_OK


def _run(
    store: StoreSettings, limits: EnvelopeLimits, selection: Selection, output: str | None
) -> ExportReport:
    if output is None:
        return asyncio.run(_export(store, limits, selection, sys.stdout.buffer))
    # Written next to the target and renamed when complete: never a truncated FILE.
    partial = Path(f"{output}.partial")
    try:
        with partial.open("wb") as stream:
            report = asyncio.run(_export(store, limits, selection, stream))
        os.replace(partial, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return report


async def _export(
    store: StoreSettings, limits: EnvelopeLimits, selection: Selection, stream: BinaryIO
) -> ExportReport:
    redis = store.redis.connect(timeout=REDIS_TIMEOUT)
    try:
        return await export(redis, store.keys, selection, limits, stream.write)
    finally:
        await redis.aclose()


def _print_report(report: ExportReport) -> None:
    err = sys.stderr
    print(
        f"stepmetrics export: {report.executions} execution(s), {report.envelopes} "
        f"envelope(s), {report.events} event(s), {report.values} metric value(s)",
        file=err,
    )
    for eid in report.missing:
        print(f"stepmetrics export: execution {eid!r} is not in the store", file=err)
    if report.empty:
        print(f"stepmetrics export: {len(report.empty)} execution(s) without metrics "
              "skipped (no event can recreate them)", file=err)  # fmt: skip
    if report.times_lost:
        print(f"stepmetrics export: {len(report.times_lost)} execution(s) keep their metrics "
              "but not their created_at/updated_at (no event can carry them), e.g. "
              f"{report.times_lost[0]!r}", file=err)  # fmt: skip
    if report.dropped:
        print(f"stepmetrics export: {report.dropped} value(s) the source's limits dropped "
              "are counted there, not in the file", file=err)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
