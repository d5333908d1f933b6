"""Exit codes of every `stepmetrics` command, defined once."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
# The command ran and failed (a service, the API or the broker said no).
EXIT_FAILED: Final = 1
# Bad arguments or settings: nothing was tried.
EXIT_USAGE: Final = 2
# The command's extra is not installed.
EXIT_NOT_INSTALLED: Final = 3
