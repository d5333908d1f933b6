"""`stepmetrics get --format csv`: names and ids cannot become formulas; numbers stay numbers."""

from __future__ import annotations

import io

from stepmetrics.cli.get import write_csv
from stepmetrics.store.types import Metric

_METRIC: Metric = {
    "name": "=HYPERLINK(1)",
    "value": -1.5,
    "created_at": "2025-11-24T16:00:00.000000Z",
    "execution_id": "@run",
    "deployment_name": "+dep",
    "pipeline_name": "-pipe",
}


def test_scalar_csv_quotes_formula_text_and_keeps_negative_numbers() -> None:
    out = io.StringIO()
    write_csv([_METRIC], False, out)
    assert out.getvalue().splitlines()[1] == (
        "'=HYPERLINK(1),-1.5,2025-11-24T16:00:00.000000Z,'@run,'+dep,'-pipe"
    )


def test_list_csv_quotes_formula_text_and_keeps_negative_numbers() -> None:
    out = io.StringIO()
    write_csv([{**_METRIC, "value": [-2.0, 0.5], "deployment_name": None}], True, out)
    assert out.getvalue().splitlines()[1:] == [
        "'=HYPERLINK(1),0,-2.0,2025-11-24T16:00:00.000000Z,'@run,,'-pipe",
        "'=HYPERLINK(1),1,0.5,2025-11-24T16:00:00.000000Z,'@run,,'-pipe",
    ]
