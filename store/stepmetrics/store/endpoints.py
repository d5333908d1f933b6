"""The reader API's paths and page limits, defined once.

The routes and the OpenAPI document of the API, the query library's paging,
the web interface and the `stepmetrics` command all build their URLs and
limits from here. Templates name their parameters `{execution_id}` and
`{name}`, as OpenAPI writes them; `route_template` gives Starlette's form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

PREFIX: Final = "/api/v1"
METRICS_PATH: Final = f"{PREFIX}/metrics"
LIST_METRICS_PATH: Final = f"{PREFIX}/list-metrics"
EXECUTIONS_PATH: Final = f"{PREFIX}/executions"
STATS_PATH: Final = f"{PREFIX}/stats"
EXECUTION_PATH: Final = EXECUTIONS_PATH + "/{execution_id}"
EXECUTION_LIST_METRIC_PATH: Final = EXECUTION_PATH + "/list-metrics/{name}"
EXECUTION_CSV_PATH: Final = EXECUTION_PATH + "/metrics.csv"
# One list metric reduced to buckets (ids and names as query parameters).
LIST_BUCKETS_PATH: Final = f"{PREFIX}/list-buckets"
# The API's own Prometheus metrics (text format, behind the token); not the
# recorded metrics of `METRICS_PATH`.
PROMETHEUS_PATH: Final = "/metrics"


@dataclass(frozen=True, slots=True)
class PageLimit:
    """How many items one page holds: without `limit`, and at most."""

    default: int
    maximum: int


METRICS_PAGE: Final = PageLimit(1000, 10_000)
LIST_METRICS_PAGE: Final = PageLimit(100, 1000)
EXECUTIONS_PAGE: Final = PageLimit(100, 1000)
# A page of list metrics also stops once it holds about this many values.
MAX_PAGE_VALUES: Final = 1_000_000


def route_template(template: str) -> str:
    """Starlette's form of a path template: ids and names may hold "/"."""
    return re.sub(r"\{(\w+)\}", r"{\1:path}", template)


def execution_path(execution_id: str, template: str = EXECUTION_PATH) -> str:
    """The URL path of one execution (or of its CSV export), the id quoted."""
    return template.replace("{execution_id}", quote(execution_id, safe=""))
