"""Rack-scanner files (DESIGN §6), parsed without touching the database.

FluidX, Micronic and Ziath readers write one line per well in a handful of shapes:
``A1,TUBE`` or ``A01,TUBE`` (with or without a header), ``RACK,POSITION,TUBE``, or headed
columns ``Position``/``Tube Position`` + ``Barcode``/``Tube Barcode`` (or ``Tube Row`` +
``Tube Column``). Empty and unreadable wells read ``NO READ``, ``NOREAD`` or nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

MAX_BYTES = 1024 * 1024
MAX_WELLS = 2600  # 26 rows x 99 columns, the largest grid a box may have
EMPTY_READS = frozenset({"", "NO READ", "NOREAD", "NO TUBE"})
POSITION = re.compile(r"^([A-Za-z])0*(\d{1,2})$")
DELIMITERS = (",", ";", "\t")
POSITION_HEADERS = ("tube position", "position", "well", "location")
BARCODE_HEADERS = ("tube barcode", "barcode", "tube id", "tube")
ROW_HEADERS = ("tube row", "row")
COLUMN_HEADERS = ("tube column", "column", "col")


class RackFileError(ValueError):
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


def decode_text_upload(
    data: bytes, *, max_bytes: int, empty: str, too_large: str, upload_instead: str
) -> str:
    """An uploaded CSV file's text: refused when empty, over ``max_bytes`` or binary; read as
    UTF-8 (a byte-order mark dropped) or else Windows-1252, as spreadsheets save it.

    ``too_large`` may name ``{size}`` and ``{limit}``; ``upload_instead`` ends the sentence
    that refuses a binary file (e.g. "upload the scanner's CSV export").
    """
    if not data or not data.strip():
        raise RackFileError(empty)
    if len(data) > max_bytes:
        raise RackFileError(too_large.format(size=f"{len(data):,}", limit=f"{max_bytes:,}"))
    if b"\x00" in data:
        raise RackFileError(f"This is not a text file (it holds binary data): {upload_instead}.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RackFileError("The file's characters cannot be read: save it as UTF-8 CSV.")


def _decode(data: bytes) -> str:
    return decode_text_upload(
        data,
        max_bytes=MAX_BYTES,
        empty="The file is empty: export the rack scan again and upload that file.",
        too_large="The file is {size} bytes; a rack scan is a few kilobytes (limit {limit}). "
        "Upload the scanner's CSV export, not another file.",
        upload_instead="upload the scanner's CSV export",
    )


def _delimiter(lines: list[str]) -> str:
    for delimiter in DELIMITERS:
        if all(delimiter in line for line in lines[: min(len(lines), 5)]):
            return delimiter
    raise RackFileError(
        f"Line 1 ({lines[0][:40]!r}) has no comma: a rack scan has one well per line, "
        "position and tube separated by commas (e.g. A1,7KQ2M9XD3E)."
    )


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def parse_rack_file(data: bytes) -> list[Well]:
    """Every well of the file, in file order. Raises ``RackFileError`` for unreadable files."""
    text = _decode(data)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RackFileError("The file is empty: export the rack scan again and upload that file.")
    if len(lines) > MAX_WELLS + 1:
        raise RackFileError(
            f"The file has {len(lines):,} lines; no box has more than {MAX_WELLS} wells."
        )
    delimiter = _delimiter(lines)
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    first = rows[0]
    position_at = _find(first, POSITION_HEADERS)
    barcode_at = _find(first, BARCODE_HEADERS)
    row_at, col_at = _find(first, ROW_HEADERS), _find(first, COLUMN_HEADERS)
    has_header = barcode_at is not None and (
        position_at is not None or (row_at is not None and col_at is not None)
    )
    if has_header:
        body, start = rows[1:], 2
    else:
        # No header: two columns are POSITION,TUBE; three are RACK,POSITION,TUBE. A first line
        # that is not a well (some other header) is skipped only if its position is not one.
        width = len(first)
        if width not in (2, 3):
            raise RackFileError(
                f"Line 1 has {width} columns; expected POSITION,TUBE or RACK,POSITION,TUBE "
                "(or a header naming Position and Barcode columns)."
            )
        position_at, barcode_at = (0, 1) if width == 2 else (1, 2)
        body, start = rows, 1
        if parse_position(first[position_at]) is None and first[position_at].strip() != "":
            body, start = rows[1:], 2
    wells = []
    for offset, fields in enumerate(body):
        line = start + offset
        if row_at is not None and col_at is not None and position_at is None:
            if max(row_at, col_at, barcode_at) >= len(fields):
                raise RackFileError(f"Line {line} is missing columns: {delimiter.join(fields)!r}.")
            position_text = f"{fields[row_at].strip()}{fields[col_at].strip()}"
        else:
            if max(position_at, barcode_at) >= len(fields):
                raise RackFileError(f"Line {line} is missing columns: {delimiter.join(fields)!r}.")
            position_text = fields[position_at].strip()
        raw = fields[barcode_at].strip()
        barcode = None if raw.upper() in EMPTY_READS else raw
        grid = parse_position(position_text)
        wells.append(Well(line, position_text, barcode, *(grid or (None, None))))
    if not wells:
        raise RackFileError("The file has a header but no wells.")
    return wells
