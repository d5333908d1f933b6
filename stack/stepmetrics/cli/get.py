"""`stepmetrics get`: print metrics from the reader API as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

import orjson

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.csv_cells import text_cell
from stepmetrics.store.errors import StoreError, StoreQueryError, StoreSettingsError
from stepmetrics.store.paging import METRIC_COLUMNS
from stepmetrics.store.settings import API_TOKEN, API_URL
from stepmetrics.store.types import Metric
from stepmetrics.store.wire import list_to_wire, to_wire

COLUMNS: Final = METRIC_COLUMNS
PREVIEW_VALUES = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepmetrics get",
        description="Print metrics (all, or those of one filter) from the reader API at "
        f"{API_URL.name} with {API_TOKEN.name}. Order: execution creation time, "
        "execution id, metric name.",
    )
    one = parser.add_mutually_exclusive_group()
    one.add_argument("--name", help="metric name")
    one.add_argument("--pipeline", help="pipeline name")
    one.add_argument("--deployment", help="deployment name")
    one.add_argument("--execution", help="execution id")
    parser.add_argument("--list", action="store_true", help="list metrics instead of scalars")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """0 on success, 1 when the API fails, 2 on bad usage or settings."""
    args = _parser().parse_args(argv)
    filters = {
        "name": args.name,
        "pipeline_name": args.pipeline,
        "deployment_name": args.deployment,
        "execution_id": args.execution,
    }
    try:
        with MetricsClient.from_env() as client:
            fetch = client.get_list_metrics if args.list else client.get_metrics
            items = fetch(**filters)
    except (StoreSettingsError, StoreQueryError) as exc:  # bad usage, not an API failure
        print(f"stepmetrics get: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"stepmetrics get: {exc}", file=sys.stderr)
        return EXIT_FAILED
    write = {"table": write_table, "json": write_json, "csv": write_csv}[args.format]
    write(items, args.list, sys.stdout)
    return EXIT_OK


def write_json(items: Sequence[Metric], is_list: bool, out: TextIO) -> None:
    """A JSON array; non-finite values as "NaN", "Infinity", "-Infinity"."""
    encode: Any = list_to_wire if is_list else to_wire
    wire = [{**item, "value": encode(item["value"])} for item in items]
    out.write(orjson.dumps(wire, option=orjson.OPT_INDENT_2).decode() + "\n")


def write_csv(items: Sequence[Metric], is_list: bool, out: TextIO) -> None:
    """Scalars: one row each. Lists: one row per value, with its index. Names
    and ids as text cells that spreadsheets will not run as formulas."""
    writer = csv.writer(out, lineterminator="\n")
    if not is_list:
        writer.writerow(COLUMNS)
        for m in items:
            name, *rest = map(text_cell, _row(m))
            writer.writerow((name, repr(m["value"]), *rest))
        return
    writer.writerow(("name", "index", "value", *COLUMNS[2:]))
    for item in items:
        name, *rest = map(text_cell, _row(item))
        values: list[float] = item["value"]  # type: ignore[assignment]
        writer.writerows((name, i, repr(v), *rest) for i, v in enumerate(values))


def _row(item: Metric) -> tuple[str, ...]:
    """Every column but the value, empty strings for missing names."""
    return (
        item["name"],
        item["created_at"],
        item["execution_id"],
        item["deployment_name"] or "",
        item["pipeline_name"] or "",
    )


def _shown(value: float | list[float]) -> str:
    if not isinstance(value, list):
        return repr(value)
    head = ", ".join(repr(v) for v in value[:PREVIEW_VALUES])
    more = f", … ({len(value)} values)" if len(value) > PREVIEW_VALUES else ""
    return f"[{head}{more}]"


def write_table(items: Sequence[Metric], is_list: bool, out: TextIO) -> None:
    """Aligned columns for people; lists show their first values and length."""
    if not items:
        out.write("no metrics found\n")
        return
    rows = [COLUMNS] + [(m["name"], _shown(m["value"]), *_row(m)[1:]) for m in items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")
