"""CSV cells that spreadsheet programs will not run as formulas.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a
formula to Excel, LibreOffice and Google Sheets (OWASP "CSV injection"), and
metric names, execution ids and pipeline or deployment names come from step
code, i.e. from anyone who can write to the topic. Such cells get a leading
`'`, which spreadsheets show as text. Numbers are never passed through
`text_cell`: `-1.5` stays a number. The reader API's CSV export and
`stepmetrics get --format csv` both write text cells through here.
"""

from __future__ import annotations

from typing import Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """`text` as a CSV text cell: with a leading `'` if it would start a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
