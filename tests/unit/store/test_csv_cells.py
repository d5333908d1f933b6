"""Text cells of the CSV exports: no formulas for spreadsheets."""

from __future__ import annotations

import pytest

from stepmetrics.store.csv_cells import text_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "-1.5"])
def test_formula_starts_get_a_quote(text: str) -> None:
    assert text_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["accuracy", "", "1.5", "a=b", " =x", "'quoted"])
def test_other_text_is_unchanged(text: str) -> None:
    assert text_cell(text) == text
