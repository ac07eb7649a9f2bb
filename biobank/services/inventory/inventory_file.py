"""A biobank's existing inventory as a CSV file: its columns, how it is read, and the rows of the
report an import answers with."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from biobank.errors import Conflict, ValidationFailed
from biobank.services.core.uploads import (
    UnreadableUpload,
    check_line_lengths,
    decode_text_upload,
    sniff_delimiter,
)

SOURCE = "inventory import"
# A 20,000-tube inventory is about 2 MB; the server's upload limit (BIOBANK_MAX_UPLOAD_BYTES)
# may stop a file before this does.
MAX_BYTES = 8 * 1024 * 1024
MAX_ROWS = 20_000
DEFAULT_BOX_ROWS = DEFAULT_BOX_COLS = 9
MAX_BOX_ROWS, MAX_BOX_COLS = 26, 99
MAX_NOTES = 2000
MAX_VOLUME_ML = Decimal("99999.999")  # samples.volume_ml is NUMERIC(8, 3)
QUERY_CHUNK = 1000
EMPTY_FILE = "The file is empty: export the inventory as CSV and upload that file."
PATH_SEPARATOR = re.compile(r"\s*[›>]\s*")

COLUMNS = (
    "barcode",
    "tube_type",
    "participant_id",
    "collection_site",
    "collected_at",
    "volume_ml",
    "freezer",
    "box",
    "box_rows",
    "box_cols",
    "position",
    "parent_barcode",
    "notes",
)
REQUIRED = ("tube_type", "collection_site", "freezer", "box", "position")
EXAMPLE_HEADER = ",".join(COLUMNS)
REQUIRED_HINTS = {
    "tube_type": "give the tube's catalogue code, e.g. 1SST8",
    "collection_site": "give the code of the site that collected the tube",
    "freezer": "give the name of the freezer the tube is in",
    "box": "give the name of the box the tube is in",
    "position": "give the tube's position in its box, e.g. A1",
}


class RowOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True)
class RowProblem:
    """Why a row cannot be imported; ``column`` is None for the line as a whole."""

    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "message": self.message}


@dataclass(frozen=True)
class ReportRow:
    line: int
    barcode: str | None  # the canonical ID; as written when it is not one; None: new, not yet
    new_id: bool
    tube_type: str
    freezer: str
    box: str
    position: str
    problems: tuple[RowProblem, ...]
    notice: str  # what happens to the row (or happened), when it is fine

    @property
    def outcome(self) -> RowOutcome:
        return RowOutcome.ERROR if self.problems else RowOutcome.OK

    @property
    def message(self) -> str:
        if self.problems:
            return " ".join(problem.message for problem in self.problems)
        return self.notice

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "barcode": self.barcode,
            "new_id": self.new_id,
            "tube_type": self.tube_type,
            "freezer": self.freezer,
            "box": self.box,
            "position": self.position,
            "outcome": str(self.outcome),
            "message": self.message,
            "errors": [problem.as_dict() for problem in self.problems],
        }


@dataclass(frozen=True)
class NewBox:
    """A box the import creates: where, its name and its size."""

    freezer: str
    path: str  # inside the freezer, e.g. "Shelf 2 › Box 7"
    rows: int
    cols: int

    def as_dict(self) -> dict[str, Any]:
        return {"freezer": self.freezer, "box": self.path, "rows": self.rows, "cols": self.cols}


@dataclass(frozen=True)
class InventoryReport:
    rows: list[ReportRow]
    new_boxes: list[NewBox]
    collections: int  # created (applied) or to create (preview)
    ignored_columns: list[str]
    applied: bool

    @property
    def ok(self) -> bool:
        return not any(row.problems for row in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        errors = sum(1 for row in self.rows if row.problems)
        return {
            "rows": len(self.rows),
            "ok": len(self.rows) - errors,
            "error": errors,
            "new_ids": sum(1 for row in self.rows if row.new_id),
            "new_boxes": len(self.new_boxes),
            "collections": self.collections,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "ok": self.ok,
            "counts": self.counts,
            "ignored_columns": self.ignored_columns,
            "new_boxes": [box.as_dict() for box in self.new_boxes],
            "rows": [row.as_dict() for row in self.rows],
        }


class InventoryRefused(Conflict):
    title = "Inventory file has errors"
    slug = "inventory-refused"


# --- reading the file ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    number: int
    values: dict[str, str]
    surplus: int  # values beyond the header's columns (an unquoted delimiter, usually)


def _file_error(message: str) -> ValidationFailed:
    return ValidationFailed.for_field("file", message)


def _column_name(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _header(first_line: str, number: int) -> tuple[str, list[str]]:
    """The delimiter under which the header line names the most inventory columns, and those
    names (``number``: the header's line number, for the messages)."""

    def names_under(delimiter: str) -> list[str]:
        return [_column_name(n) for n in next(csv.reader([first_line], delimiter=delimiter))]

    delimiter = sniff_delimiter(
        lambda candidate: sum(1 for name in names_under(candidate) if name in COLUMNS)
    )
    if delimiter is None:
        raise _file_error(
            f"Line {number} ({first_line[:60]!r}) is not a header this import reads: an inventory "
            "file starts with a header row naming its columns, separated by commas (or "
            f"semicolons or tabs), e.g. {EXAMPLE_HEADER}."
        )
    names = names_under(delimiter)
    missing = [column for column in REQUIRED if column not in names]
    if missing:
        raise _file_error(
            f"Line {number} does not name the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}: the header needs {', '.join(REQUIRED)} (and may name "
            f"{', '.join(c for c in COLUMNS if c not in REQUIRED)})."
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise _file_error(
            f"Line {number} names {', '.join(repeated)} more than once: each column goes once."
        )
    return delimiter, names


def read_inventory_file(data: bytes) -> tuple[list[_Line], list[str]]:
    """The file's data lines (blank ones skipped) and the header's ignored columns.

    Raises ``ValidationFailed`` on ``file`` for a file that cannot be read as an inventory.
    """
    try:
        text = decode_text_upload(
            data,
            max_bytes=MAX_BYTES,
            empty=EMPTY_FILE,
            too_large="The file is {size} bytes; an inventory file may have up to {limit} "
            f"bytes ({MAX_ROWS:,} tubes): split it, e.g. one file per freezer.",
            upload_instead='export the inventory as CSV (a spreadsheet\'s "Save as CSV") '
            "and upload that",
        )
        source = text.splitlines()
        check_line_lengths(source, what="an inventory line holds one tube's columns")
    except UnreadableUpload as unreadable:
        raise _file_error(str(unreadable)) from None
    start = next((index for index, line in enumerate(source) if line.strip()), None)
    if start is None:  # blank lines only, or nothing but a byte-order mark
        raise _file_error(EMPTY_FILE)
    delimiter, names = _header(source[start], start + 1)
    ignored = [
        name or f"(column {number}, no name)"
        for number, name in enumerate(names, start=1)
        if name not in COLUMNS
    ]
    reader = csv.reader(io.StringIO("\n".join(source[start + 1 :])), delimiter=delimiter)
    lines: list[_Line] = []
    previous_end = start + 1
    try:
        for fields in reader:
            number, previous_end = previous_end + 1, start + 1 + reader.line_num
            if not any(value.strip() for value in fields):
                continue
            if len(lines) >= MAX_ROWS:
                raise _file_error(
                    f"The file has more than {MAX_ROWS:,} tubes: split it (e.g. one file per "
                    "freezer) and import the parts one after the other."
                )
            values = {
                name: value.strip()
                for name, value in zip(names, fields, strict=False)
                if name in COLUMNS
            }
            lines.append(_Line(number, values, max(0, len(fields) - len(names))))
    except csv.Error as broken:
        raise _file_error(
            f"Line {start + 1 + reader.line_num} cannot be read as CSV ({broken}): check its "
            "quotes."
        ) from None
    if not lines:
        raise _file_error("The file has a header but no tubes: one row per tube follows it.")
    return lines, ignored
