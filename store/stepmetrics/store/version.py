"""The installed package's version, for the OpenAPI document and `--version`."""

from __future__ import annotations

import importlib.metadata
from typing import Final

# A valid version (PEP 440) for a source tree that is not installed.
UNKNOWN_VERSION: Final = "0+unknown"


def package_version() -> str:
    """The version of the installed `stepmetrics` distribution."""
    try:
        return importlib.metadata.version("stepmetrics")
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION
