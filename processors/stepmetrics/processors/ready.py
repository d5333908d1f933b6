"""The worker's readiness line, printed once its agent consumes.

Its own module so that whoever waits for it (`stepmetrics up`, the tests)
can import it without importing faust.
"""

from typing import Final

WORKER_READY: Final = "stepmetrics worker ready"
