"""The one CSV writer of every export, and its download: cells a spreadsheet would run as a
formula are inert.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula (or
becomes one) in Excel, LibreOffice and Google Sheets; such text cells get a leading ``'``, which
spreadsheets show as text and do not run (OWASP's "CSV injection" advice). Numbers stay numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

from flask import Response

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


def download(body: Any, filename: str, headers: dict[str, str] | None = None) -> Response:
    """A CSV (text, or an iterable of chunks) for the browser or an API client to save as
    ``filename``; ``headers`` adds others (Cache-Control)."""
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})})
