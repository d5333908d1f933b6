"""`stepmetrics api`: serve the reader API."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from stepmetrics.cli.exit_codes import EXIT_USAGE
from stepmetrics.store.api.server import LOG_LEVELS, serve
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.settings import ApiSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepmetrics api",
        description="Serve the read-only reader API (JSON, OpenAPI at /openapi.json). "
        "Needs STEPMETRICS_API_TOKEN; reads STEPMETRICS_REDIS_URL, STEPMETRICS_REDIS_PREFIX, "
        "STEPMETRICS_API_HOST and STEPMETRICS_API_PORT.",
    )
    parser.add_argument("--host", help="listen address (default: STEPMETRICS_API_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: STEPMETRICS_API_PORT)")
    parser.add_argument(
        "--workers", type=int, help="server processes (default: STEPMETRICS_API_WORKERS or 1)"
    )
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs throughput)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the API until interrupted; 0 on a clean stop, 2 on bad settings."""
    args = _parser().parse_args(argv)
    try:
        settings = ApiSettings.from_env()
        overrides = {"host": args.host, "port": args.port, "workers": args.workers}
        settings = dataclasses.replace(
            settings, **{k: v for k, v in overrides.items() if v is not None}
        )
    except StoreSettingsError as exc:
        print(f"stepmetrics api: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return serve(settings, log_level=args.log_level, access_log=args.access_log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
