"""Rack-scanner files (DESIGN §6), parsed without touching the database.

FluidX, Micronic and Ziath readers write one line per well in a handful of shapes:
``A1,TUBE`` or ``A01,TUBE`` (with or without a header), ``RACK,POSITION,TUBE``, or headed
columns ``Position``/``Tube Position`` + ``Barcode``/``Tube Barcode`` (or ``Tube Row`` +
``Tube Column``). Empty and unreadable wells read ``NO READ``, ``NOREAD`` or nothing.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from biobank.services.core.uploads import (
    UnreadableUpload,
    check_line_lengths,
    decode_text_upload,
    sniff_delimiter,
)

MAX_BYTES = 1024 * 1024
MAX_WELLS = 2600  # 26 rows x 99 columns, the largest grid a box may have
EMPTY_READS = frozenset({"", "NO READ", "NOREAD", "NO TUBE"})
POSITION = re.compile(r"^([A-Za-z])0*(\d{1,2})$")
POSITION_HEADERS = ("tube position", "position", "well", "location")
BARCODE_HEADERS = ("tube barcode", "barcode", "tube id", "tube")
ROW_HEADERS = ("tube row", "row")
COLUMN_HEADERS = ("tube column", "column", "col")


class RackFileError(UnreadableUpload):
    """The file cannot be read as a rack scan; the message says what to fix."""


@dataclass(frozen=True)
class Well:
    line: int
    position: str  # as written, e.g. "A01"
    barcode: str | None  # None: empty or unreadable well
    row: int | None  # 1-based, None when the position is not a grid position
    col: int | None


def parse_position(text: str) -> tuple[int, int] | None:
    """``A1`` / ``a01`` → (1, 1); anything else → None."""
    match = POSITION.match(text.strip())
    if not match:
        return None
    row = ord(match.group(1).upper()) - ord("A") + 1
    col = int(match.group(2))
    return (row, col) if col >= 1 else None


def _well_label(row: int, col: int) -> str:
    return f"{chr(ord('A') + row - 1)}{col}"


def _one_read_per_well(wells: list[Well]) -> None:
    """A well holds one tube: a file that reads a tube in a well twice cannot be stored."""
    first_read: dict[tuple[int, int], Well] = {}
    for well in wells:
        if well.row is None or well.col is None:
            continue
        first = first_read.setdefault((well.row, well.col), well)
        if first is well or (first.barcode is None and well.barcode is None):
            continue
        label = _well_label(well.row, well.col)
        if first.barcode and well.barcode and first.barcode.upper() != well.barcode.upper():
            raise RackFileError(
                f"Line {well.line}: two tubes read in {label} ({first.barcode} on line "
                f"{first.line}, {well.barcode} on line {well.line}); a well holds one tube. "
                "Check the rack and scan it again."
            )
        raise RackFileError(
            f"Line {well.line}: {label} is read twice (lines {first.line} and {well.line}: "
            f"{first.barcode or 'empty'}, {well.barcode or 'empty'}); a rack scan lists each "
            "well once. Scan the rack again."
        )


def _decode(data: bytes) -> str:
    try:
        return decode_text_upload(
            data,
            max_bytes=MAX_BYTES,
            empty="The file is empty: export the rack scan again and upload that file.",
            too_large="The file is {size} bytes; a rack scan is a few kilobytes (limit {limit}). "
            "Upload the scanner's CSV export, not another file.",
            upload_instead="upload the scanner's CSV export",
        )
    except UnreadableUpload as unreadable:
        raise RackFileError(str(unreadable)) from None


def _delimiter(lines: list[str]) -> str:
    """The delimiter found on each of the first five lines (one well per line)."""
    first = lines[: min(len(lines), 5)]
    delimiter = sniff_delimiter(lambda candidate: all(candidate in line for line in first))
    if delimiter is None:
        raise RackFileError(
            f"Line 1 ({lines[0][:40]!r}) has no comma: a rack scan has one well per line, "
            "position and tube separated by commas (e.g. A1,7KQ2M9XD3E)."
        )
    return delimiter


def _fields(line: str, number: int, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except csv.Error as broken:
        raise RackFileError(
            f"Line {number} cannot be read as CSV ({broken}): check its quotes."
        ) from None


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def parse_rack_file(data: bytes) -> list[Well]:
    """Every well of the file, in file order. Raises ``RackFileError`` for unreadable files."""
    text = _decode(data)
    try:
        check_line_lengths(
            text.splitlines(), what="a rack-scan line holds a position and a tube barcode"
        )
    except UnreadableUpload as unreadable:
        raise RackFileError(str(unreadable)) from None
    # Blank lines are skipped, but every message names the line as the file numbers it.
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not numbered:
        raise RackFileError("The file is empty: export the rack scan again and upload that file.")
    if len(numbered) > MAX_WELLS + 1:
        raise RackFileError(
            f"The file has {len(numbered):,} lines; no box has more than {MAX_WELLS} wells."
        )
    delimiter = _delimiter([line for _, line in numbered])
    # One well per line: each line is read on its own, so a stray quote spoils only its line.
    rows = [(n, _fields(line, n, delimiter)) for n, line in numbered]
    first_number, first = rows[0]
    position_at = _find(first, POSITION_HEADERS)
    barcode_at = _find(first, BARCODE_HEADERS)
    row_at, col_at = _find(first, ROW_HEADERS), _find(first, COLUMN_HEADERS)
    has_header = barcode_at is not None and (
        position_at is not None or (row_at is not None and col_at is not None)
    )
    if has_header:
        body = rows[1:]
    else:
        # No header: two columns are POSITION,TUBE; three are RACK,POSITION,TUBE. A first line
        # that is not a well (some other header) is skipped only if its position is not one.
        width = len(first)
        if width not in (2, 3):
            raise RackFileError(
                f"Line {first_number} has {width} columns; expected POSITION,TUBE or "
                "RACK,POSITION,TUBE (or a header naming Position and Barcode columns)."
            )
        position_at, barcode_at = (0, 1) if width == 2 else (1, 2)
        body = rows
        if parse_position(first[position_at]) is None and first[position_at].strip() != "":
            body = rows[1:]
    # Either layout names the barcode's column (a header without one was refused above).
    assert barcode_at is not None
    wells = []
    for line, fields in body:
        if row_at is not None and col_at is not None and position_at is None:
            if max(row_at, col_at, barcode_at) >= len(fields):
                raise RackFileError(f"Line {line} is missing columns: {delimiter.join(fields)!r}.")
            position_text = f"{fields[row_at].strip()}{fields[col_at].strip()}"
        else:
            assert position_at is not None
            if max(position_at, barcode_at) >= len(fields):
                raise RackFileError(f"Line {line} is missing columns: {delimiter.join(fields)!r}.")
            position_text = fields[position_at].strip()
        raw = fields[barcode_at].strip()
        barcode = None if raw.upper() in EMPTY_READS else raw
        grid = parse_position(position_text)
        wells.append(Well(line, position_text, barcode, *(grid or (None, None))))
    if not wells:
        raise RackFileError("The file has a header but no wells.")
    _one_read_per_well(wells)
    return wells
