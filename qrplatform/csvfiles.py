"""The one CSV writer of every export: cells a spreadsheet would run as a formula are inert.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula (or
becomes one) in Excel, LibreOffice and Google Sheets; such text cells get a leading ``'``, which
spreadsheets show as text and do not run (OWASP's "CSV injection" advice). Numbers stay numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class InertWriter:
    """``csv.writer`` whose rows are neutralised first."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([inert(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream, **kwargs) -> InertWriter:
    return InertWriter(stream, **kwargs)
