"""CSV for spreadsheets, safe to open: the one writer every CSV export goes through.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab, a
carriage return or a line feed before one) as a formula, so a box named
``=HYPERLINK("http://…")`` would become a link, or worse, on the coordinator's machine (OWASP
"CSV injection"). Such a text cell is written with a single quote in front, which spreadsheets
show as text and a reader of the CSV can strip.

Numbers stay numbers: an ``int``, ``float`` or ``Decimal`` is written as it is, and so is text
that is a plain decimal number (``-80``, ``-0.5``), which no spreadsheet takes for a formula.
Everything else that begins with one of those characters is quoted, whatever follows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """The cell as a spreadsheet should read it: text that could run as a formula is quoted."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``spreadsheet_safe``."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str]) -> SafeWriter:
    """The writer for every CSV the app hands out (exports, reports)."""
    return SafeWriter(stream)
