"""Uploaded text files, read the one way rack scans and inventories share."""

from __future__ import annotations

import pytest

from biobank.services.core.uploads import (
    MAX_LINE_CHARS,
    UnreadableUpload,
    check_line_lengths,
    decode_text_upload,
    sniff_delimiter,
)

MESSAGES = {
    "max_bytes": 64,
    "empty": "The file is empty.",
    "too_large": "The file is {size} bytes (limit {limit}).",
    "upload_instead": "upload the CSV export",
}


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\xef\xbb\xbfA1,TUBE\n", "A1,TUBE\n"),  # Excel's UTF-8 with a byte-order mark
        ("Probe,Größe\n".encode(), "Probe,Größe\n"),
        ("Probe;Größe\n".encode("cp1252"), "Probe;Größe\n"),  # an older Excel's Windows-1252
    ],
)
def test_text_is_read_as_spreadsheets_save_it(data, text):
    assert decode_text_upload(data, **MESSAGES) == text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \n\n", "The file is empty."),
        (b"x" * 65, "The file is 65 bytes (limit 64)."),
        (b"PK\x03\x04\x00\x00", "holds binary data): upload the CSV export."),
    ],
)
def test_a_file_that_is_not_text_is_refused_with_what_to_do(data, message):
    with pytest.raises(UnreadableUpload) as refused:
        decode_text_upload(data, **MESSAGES)
    assert message in str(refused.value)


def test_an_overlong_line_is_named_by_its_number():
    lines = ["header", "ok", "x" * (MAX_LINE_CHARS + 1)]
    with pytest.raises(UnreadableUpload, match=r"^Line 4 is too long: .*\(one tube\)"):
        check_line_lengths(lines, first_number=2, what="one tube")


def test_the_delimiter_that_fits_best_wins_and_a_tie_goes_to_the_comma():
    header = "barcode;position,box"
    known = {"barcode", "position", "box"}

    def columns_known(delimiter: str) -> int:
        return sum(1 for name in header.split(delimiter) if name in known)

    assert sniff_delimiter(columns_known) == ","  # one known column under each: a tie
    assert sniff_delimiter(lambda delimiter: 1) == ","
    assert sniff_delimiter(lambda delimiter: delimiter == "\t") == "\t"
    assert sniff_delimiter(lambda delimiter: 0) is None
