"""`stepmetrics import FILE`: produce a file of envelopes (from `stepmetrics export`) to Kafka."""

from __future__ import annotations

import argparse
import asyncio
import sys

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.producers.errors import ProducerError
from stepmetrics.producers.file_import import (
    ImportDeliveryError,
    ImportFileError,
    ImportReport,
    produce,
    validate,
)
from stepmetrics.producers.settings import BOOTSTRAP, TOPIC, ProducerSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepmetrics import",
        description="Check every line of FILE (one envelope per line, as `stepmetrics "
        "export` writes) with the worker's decoder, then produce the envelopes, keyed by "
        f"execution id, to {TOPIC.name} at {BOOTSTRAP.name} (TLS/SASL: the SDK's "
        "STEPMETRICS_KAFKA_* settings) and wait for the acknowledgements. A bad line "
        "refuses the whole file. Importing a file twice changes nothing.",
    )
    parser.add_argument("file", metavar="FILE", help="the file of envelopes ('-': stdin)")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip bad lines (counted and reported) instead of refusing the file",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """0 when every valid line was acknowledged, 1 on a bad file or a broker
    failure, 2 on bad usage or settings."""
    args = _parser().parse_args(argv)
    if args.file == "-":
        print("stepmetrics import: FILE must be a file (it is read twice)", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = ProducerSettings.from_env()
    except ProducerError as exc:
        print(f"stepmetrics import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = ImportReport()
    try:
        with open(args.file, "rb") as stream:
            validate(stream, report, args.skip_invalid)
            stream.seek(0)
            asyncio.run(produce(stream, settings, report, _progress))
    except ImportFileError as exc:
        print(f"stepmetrics import: {args.file}: {exc}; nothing was produced", file=sys.stderr)
        return EXIT_FAILED
    except (ImportDeliveryError, OSError) as exc:
        _print_report(settings, report)
        print(f"stepmetrics import: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_report(settings, report)
    return EXIT_OK


def _progress(line: str) -> None:
    print(f"stepmetrics import: {line}", file=sys.stderr, flush=True)


def _print_report(settings: ProducerSettings, report: ImportReport) -> None:
    print(
        f"stepmetrics import: {report.envelopes} of {report.valid} envelope(s) acknowledged "
        f"({report.values} metric value(s), {len(report.executions)} execution(s)) on "
        f"{settings.topic}; {report.lines} line(s) read, {report.invalid_count} invalid "
        "skipped",
        file=sys.stderr,
    )
    for reason in report.invalid:
        print(f"stepmetrics import: skipped {reason}", file=sys.stderr)
    if report.invalid_count > len(report.invalid):
        print(f"stepmetrics import: ... and {report.invalid_count - len(report.invalid)} more "
              "invalid line(s)", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
