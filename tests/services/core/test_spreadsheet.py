"""Issue 14: CSV cells that a spreadsheet would run as a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

import biobank
from biobank.services.core.spreadsheet import csv_writer, spreadsheet_safe


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("+", "'+"),
        ("-80 box", "'-80 box"),
        ("+1", "'+1"),  # not plain: a spreadsheet reads it as a formula-ish number
    ],
)
def test_text_that_could_run_as_a_formula_is_quoted(cell, written):
    assert spreadsheet_safe(cell) == written


@pytest.mark.parametrize(
    "cell",
    [
        "Box 1",
        "Freezer 1 › Shelf 1",
        "a=b",
        "tube @ bench",
        "7KQ2M9XD3E",
        "",
        "-80",  # text that is a plain negative number stays a number
        "-0.5",
        -80,
        -0.5,
        Decimal("-80.0"),
        0,
        None,
    ],
)
def test_ordinary_cells_and_negative_numbers_are_written_as_they_are(cell):
    assert spreadsheet_safe(cell) == cell


def test_the_writer_quotes_every_cell_and_reads_back_with_csv_reader():
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["name", "temperature"])
    writer.writerows([['=HYPERLINK("http://x")', -80], ["@SUM(1+1)", "-20"]])
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows == [
        ["name", "temperature"],
        ['\'=HYPERLINK("http://x")', "-80"],
        ["'@SUM(1+1)", "-20"],
    ]


def test_every_csv_export_goes_through_the_one_writer():
    """Nothing but the safe writer calls csv.writer / DictWriter, so no export skips it."""
    package = Path(biobank.__file__).parent
    writers = re.compile(r"csv\.(?:writer|DictWriter)\(")
    callers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if writers.search(path.read_text(encoding="utf-8"))
    )
    assert callers == ["services/core/spreadsheet.py"]
