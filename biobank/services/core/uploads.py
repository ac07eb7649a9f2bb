"""Uploaded text files (rack-scanner exports, inventories): decoded, bounded and split the
same way whatever wrote them (a scanner, Excel, LibreOffice, a script)."""

from __future__ import annotations

from collections.abc import Callable

# Python's csv module refuses a field longer than this (its default field_size_limit); a line
# longer than it is refused before parsing, by number, in every CSV upload.
MAX_LINE_CHARS = 131_072
# In the order a tie is settled: spreadsheets in most locales write commas, in some
# semicolons; scanners and "Save as text" write tabs.
DELIMITERS = (",", ";", "\t")


class UnreadableUpload(ValueError):
    """The file cannot be read as text at all; the message says what to do instead."""


def decode_text_upload(
    data: bytes, *, max_bytes: int, empty: str, too_large: str, upload_instead: str
) -> str:
    """An uploaded CSV file's text: refused when empty, over ``max_bytes`` or binary; read as
    UTF-8 (a byte-order mark dropped) or else Windows-1252, as spreadsheets save it.

    ``too_large`` may name ``{size}`` and ``{limit}``; ``upload_instead`` ends the sentence
    that refuses a binary file (e.g. "upload the scanner's CSV export").
    """
    if not data or not data.strip():
        raise UnreadableUpload(empty)
    if len(data) > max_bytes:
        raise UnreadableUpload(too_large.format(size=f"{len(data):,}", limit=f"{max_bytes:,}"))
    if b"\x00" in data:
        raise UnreadableUpload(f"This is not a text file (it holds binary data): {upload_instead}.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableUpload("The file's characters cannot be read: save it as UTF-8 CSV.")


def check_line_lengths(lines: list[str], *, first_number: int = 1, what: str) -> None:
    """Refuse, by its number, the first line longer than ``MAX_LINE_CHARS`` characters.

    ``what`` ends the sentence, e.g. "a rack-scan line holds a position and a barcode".
    """
    for number, line in enumerate(lines, start=first_number):
        if len(line) > MAX_LINE_CHARS:
            raise UnreadableUpload(
                f"Line {number} is too long: {len(line):,} characters, and a line may have at "
                f"most {MAX_LINE_CHARS:,} ({what}). Check that this is the right file."
            )


def sniff_delimiter(fit: Callable[[str], int]) -> str | None:
    """The delimiter the file fits best (``fit``: how well it reads split by one, 0 for not at
    all), the earlier in ``DELIMITERS`` on a tie; None when none fits."""
    best, best_fit = None, 0
    for delimiter in DELIMITERS:
        score = fit(delimiter)
        if score > best_fit:
            best, best_fit = delimiter, score
    return best
