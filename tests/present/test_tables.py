"""Audit tables as people read them (present/tables.py): labels, rounding, intervals in the
estimate's cell, codes in words, sorting by value and filtering by what is shown."""

from __future__ import annotations

import datetime as dt

import polars as pl

from evenhand.present.tables import format_value, matrix_view, table_view


def test_labels_rounding_and_intervals() -> None:
    frame = pl.DataFrame({"to_era": ["eif_2019", "s5_2012"], "n": [12345, 7], "share": [0.123456789012, None],
                          "low": [0.1, None], "high": [0.15, None], "mystery_ratio": [1.23456789, 2.0]})
    view = table_view(frame)
    assert [c.label for c in view.columns] == ["Framework of the later inspection", "n", "Share", "Mystery ratio"]
    assert view.rows[0] == ["Education inspection framework (2019-2024)", "12,345", "12.3% (10.0% to 15.0%)", "1.23"]
    assert view.rows[1][2] == ""  # a missing share is empty, never 'nan' or 'None'
    assert view.columns[2].interval == ("low", "high")


def test_codes_in_words_on_their_date() -> None:
    assert format_value("code:four_point", 3, dt.date(2010, 5, 1)) == "Satisfactory"
    assert format_value("code:four_point", 3, dt.date(2015, 5, 1)) == "Requires improvement"
    assert format_value("code:four_point", "4") == "Inadequate"
    assert format_value("code:four_point", "X") == "X"  # an unknown code is shown as published
    assert format_value("share", 0.5) == "50.0%" and format_value("pp", -0.031) == "-3.1 pp"
    assert format_value("odds_log", 0.0) == "1.00" and format_value("bool", "true") == "Yes"


def test_sort_by_value_missing_last_and_filter_on_shown_text() -> None:
    frame = pl.DataFrame({"school_name": ["A", "B", "C"], "start_date": [dt.date(2010, 1, 1), dt.date(2016, 1, 1), dt.date(2020, 1, 1)],
                          "overall_effectiveness": [3, 4, None], "days_apart": [10, 200, None]})
    asc = table_view(frame, sort="days_apart")
    desc = table_view(frame, sort="days_apart", descending=True)
    assert [r[0] for r in asc.rows] == ["A", "B", "C"] and [r[0] for r in desc.rows] == ["B", "A", "C"]
    hits = table_view(frame, contains="inadequate")
    assert [r[0] for r in hits.rows] == ["B"] and hits.n_rows == 1 and hits.n_total == 3
    assert table_view(frame, contains="satisfactory").rows[0][0] == "A"  # grade 3 in 2010
    assert table_view(frame, sort="no_such_column").sort is None


def test_matrix_rows_add_up() -> None:
    frame = pl.DataFrame({"to_era": ["eif_2019"] * 4, "from_code": ["1", "1", "2", "2"], "from_label": ["Outstanding", "Outstanding", "Good", "Good"],
                          "to_code": ["1", "2", "1", "2"], "to_label": ["Outstanding", "Good", "Outstanding", "Good"],
                          "count": [6, 4, 1, 9], "n": [10, 10, 10, 10], "share": [0.6, 0.4, 0.1, 0.9]})
    (m,) = matrix_view(frame, "to_era", "from_label", "to_label")
    assert m.title == "Education inspection framework (2019-2024)"
    assert m.row_labels == ["Outstanding", "Good"] and m.col_labels == ["Outstanding", "Good"]
    assert m.cells == [["60.0% (6)", "40.0% (4)"], ["10.0% (1)", "90.0% (9)"]] and m.row_n == ["10", "10"]
