"""`python -m benchmarks` (`make bench`): run the suite, print a table, write JSON."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from benchmarks.harness.report import machine, table, write_json
from benchmarks.harness.runner import Scale
from benchmarks.harness.suite import FAMILIES, run_suite

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="stepmetrics benchmark suite: SDK, end to end, queries, peers, growth.",
    )
    parser.add_argument("--only", default=",".join(FAMILIES), help="comma separated families")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--factor", type=float, default=1.0, help="multiply every data size")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON result file")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per query otherwise
    scale = Scale(factor=args.factor, repeats=args.repeats)
    load_before = os.getloadavg()
    result = run_suite(scale, [name.strip() for name in args.only.split(",") if name.strip()])
    print(table(result.measurements))
    for name, error in result.errors.items():
        print(f"\n{name} FAILED:\n{error}", file=sys.stderr)
    info = {**machine(load_before), "family_seconds": result.seconds, "family_load": result.load}
    write_json(args.out, result.measurements, result.errors, scale, info)
    print(f"\nwrote {args.out}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
