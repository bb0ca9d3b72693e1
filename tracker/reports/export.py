"""Reports as CSV: the same columns as the JSON rows, exact decimals, and text cells that a
spreadsheet would run as a formula neutralised."""

from __future__ import annotations

import csv
import io
from typing import Any

from tracker.reports.metrics import METRIC_NAMES, text_value
from tracker.reports.query import Report

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (tab and carriage return too: some strip them first).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A text cell that cannot run as a formula: a leading apostrophe where it would."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(column: str, value: Any) -> str:
    if column in METRIC_NAMES:
        return text_value(column, value)
    if value is None:
        return ""
    return neutralise(str(value))


def report_csv(report: Report, with_totals: bool = False) -> str:
    """The report's rows (and, for the page's export, a last ``Total`` line) as CSV text."""
    columns = report.columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in report.rows:
        data = row.as_dict()
        writer.writerow([_cell(c, data.get(c)) for c in columns])
    if with_totals:
        totals = report.totals.as_dict()
        line = []
        for position, column in enumerate(columns):
            if column in METRIC_NAMES:
                line.append(text_value(column, totals[column]))
            else:
                line.append("Total" if position == 0 else "")
        writer.writerow(line)
    return out.getvalue()
