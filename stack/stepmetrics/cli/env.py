"""`stepmetrics env`: shell exports that point a step process at the running stack.

Usage: `eval "$(stepmetrics env)"`, then run step code in that shell.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK
from stepmetrics.stack.errors import StackError
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import read_state


def render_exports(variables: Mapping[str, str]) -> str:
    """`export NAME=value` lines, values quoted for POSIX shells."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


def main(argv: list[str]) -> int:
    """Print the exports of the stack running from the data directory."""
    parser = argparse.ArgumentParser(
        prog="stepmetrics env",
        description='Print shell exports for the running local stack: eval "$(stepmetrics env)"',
    )
    parser.add_argument(
        "--data-dir",
        help="data directory of the running `stepmetrics up` "
        "(default: $STEPMETRICS_DATA_DIR or ./.stepmetrics)",
    )
    args = parser.parse_args(argv)
    try:
        settings = StackSettings.from_env()
        data_dir = settings.data_dir if args.data_dir is None else Path(args.data_dir)
        state = read_state(data_dir)
    except StackError as exc:
        print(f"stepmetrics env: {exc}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(render_exports(state.exports()))
    return EXIT_OK
