"""The `stepmetrics` command: a dispatcher to each component's `main(argv)`.

Commands are imported lazily, so `stepmetrics get` in a notebook environment
never imports faust, and a command whose extra is not installed fails with a
message that says what to install instead of a traceback.

Run as `stepmetrics <command> [args]` or `python -m stepmetrics.cli <command>`.
Each command is one module of this package; it parses its arguments and calls
the component that does the work.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from stepmetrics.cli.exit_codes import EXIT_NOT_INSTALLED, EXIT_OK, EXIT_USAGE

__all__ = ["COMMANDS", "EXIT_NOT_INSTALLED", "EXIT_USAGE", "Command", "load", "main", "usage"]


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: where its `main(argv) -> int` lives and what it needs."""

    module: str
    extra: str | None  # the pip extra that installs what it needs; None: the base install
    summary: str

    @property
    def requirement(self) -> str:
        return f"stepmetrics[{self.extra}]" if self.extra else "stepmetrics"


COMMANDS: Final[dict[str, Command]] = {
    "up": Command("stepmetrics.cli.up", "stack", "run the local stack: broker, Redis, worker, API"),
    "env": Command(
        "stepmetrics.cli.env", "stack", "print shell exports for the running local stack"
    ),
    "worker": Command(
        "stepmetrics.cli.worker", "processor", "run the stream processor (faust worker)"
    ),
    "api": Command("stepmetrics.cli.api", "api", "run the reader HTTP API"),
    "get": Command("stepmetrics.cli.get", None, "query recorded metrics"),
    "demo": Command("stepmetrics.cli.demo", "stack", "record demo metrics into the stack"),
    "sync": Command(
        "stepmetrics.cli.sync", "producer", "send what the step SDK spooled to the broker"
    ),
    "export": Command(
        "stepmetrics.cli.export", "api", "write executions from Redis as a file of envelopes"
    ),
    "import": Command(
        "stepmetrics.cli.import_", "producer", "produce a file of envelopes to the broker"
    ),
}

MainFunc = Callable[[list[str]], int]


def usage() -> str:
    """The text of `stepmetrics --help`."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: stepmetrics <command> [options]",
        "",
        "commands:",
        *(f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()),
        "",
        "`stepmetrics <command> --help` shows a command's options.",
    ]
    return "\n".join(lines)


def load(name: str) -> MainFunc:
    """Import the `main` of command `name`.

    Raises:
        LookupError: `name` is not a command.
        ImportError: its module, or a library it needs, is not installed; the
            message says which extra to install.
    """
    command = COMMANDS.get(name)
    if command is None:
        raise LookupError(f"unknown command {name!r}; commands: {', '.join(COMMANDS)}")
    try:
        module = importlib.import_module(command.module)
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if command.module == missing or command.module.startswith(missing + "."):
            detail = f"its module {command.module} is not part of this installation"
        else:
            detail = f"the library {missing!r} it needs is missing"
        raise ImportError(
            f"`stepmetrics {name}` is not installed: {detail}; "
            f"install it with: pip install '{command.requirement}'"
        ) from exc
    main_func: MainFunc = module.main
    return main_func


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch `argv` (default `sys.argv[1:]`) to a command; return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(usage(), file=sys.stderr)
        return EXIT_USAGE
    if args[0] in ("-h", "--help", "help"):
        print(usage())
        return EXIT_OK
    if args[0] == "--version":
        # Imported here: the dispatcher itself loads no component.
        from stepmetrics.store.version import package_version

        print(f"stepmetrics {package_version()}")
        return EXIT_OK
    try:
        command_main = load(args[0])
    except LookupError as exc:
        print(f"stepmetrics: {exc.args[0]}\n\n{usage()}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:
        print(f"stepmetrics: {exc}", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    return command_main(args[1:])
