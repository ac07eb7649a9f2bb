"""Rack-scanner files: every format of DESIGN §6, malformed files, and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobank.services.core.uploads import MAX_LINE_CHARS
from biobank.services.storage.rackscan import (
    MAX_BYTES,
    RackFileError,
    parse_position,
    parse_rack_file,
)


def _pairs(wells):
    return [(w.position, w.barcode, w.row, w.col) for w in wells]


@pytest.mark.parametrize(
    "content",
    [
        b"A1,TUBE1\nA2,NO READ\nA3,\n",
        b"A01,TUBE1\nA02,NOREAD\nA03,\n",
        b"Position,Barcode\nA1,TUBE1\nA2,NO READ\nA3,\n",
        b"Tube Position,Tube Barcode\nA01,TUBE1\nA02,NOREAD\nA03,\n",
        b"TR00012345,A1,TUBE1\nTR00012345,A2,NO READ\nTR00012345,A3,\n",
        b"RACK,POSITION,TUBE\nTR1,A01,TUBE1\nTR1,A02,NOREAD\nTR1,A03,\n",
        b"Rack,Tube Row,Tube Column,Tube Barcode\nR,A,1,TUBE1\nR,A,2,NO READ\nR,A,3,\n",
        b"\xef\xbb\xbfA1,TUBE1\r\nA2,NO READ\r\nA3,\r\n",
        b"A1;TUBE1\nA2;NO READ\nA3;\n",
        b"A1\tTUBE1\nA2\tNO READ\nA3\t\n",
    ],
    ids=[
        "two-columns",
        "zero-padded",
        "header",
        "tube-headers",
        "rack-position-tube",
        "rack-header",
        "row-column",
        "bom-crlf",
        "semicolon",
        "tab",
    ],
)
def test_every_scanner_format_reads_the_same(content):
    assert [(w.row, w.col, w.barcode) for w in parse_rack_file(content)] == [
        (1, 1, "TUBE1"),
        (1, 2, None),
        (1, 3, None),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "not a text file"),
        (b"A1|TUBE1\nA2|TUBE2\n", "has no comma"),
        (b"A1 TUBE1\n", "has no comma"),
        (b"A1,B,C,D\n", "4 columns"),
        (b"Position,Barcode\n", "no wells"),
        (b"A1," + b"X" * (MAX_BYTES + 1), "limit"),
        (b"A1,T\n" * 3000, "no box has more"),
    ],
    ids=[
        "empty",
        "blank",
        "binary",
        "pipe",
        "space",
        "too-wide",
        "header-only",
        "huge",
        "too-many-lines",
    ],
)
def test_malformed_files_are_clear_errors(content, message):
    with pytest.raises(RackFileError, match=message):
        parse_rack_file(content)


def test_positions():
    assert parse_position("A1") == (1, 1)
    assert parse_position("h12") == (8, 12)
    assert parse_position("B007") == (2, 7)
    assert parse_position("A0") is None
    assert parse_position("11") is None
    assert parse_position("AA1") is None


def test_line_numbers_point_at_the_file():
    wells = parse_rack_file(b"Position,Barcode\nA1,X\nZZ9,Y\n")
    assert [(w.line, w.row) for w in wells] == [(2, 1), (3, None)]


barcodes = st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ0123456789", min_size=4, max_size=12)
# A scanner reads each well once (a file that reads a tube in one well twice is refused).
wells = st.lists(
    st.tuples(st.integers(1, 8), st.integers(1, 12), st.one_of(st.none(), barcodes)),
    min_size=1,
    max_size=96,
    unique_by=lambda well: (well[0], well[1]),
)


@settings(max_examples=60, deadline=None)
@given(
    wells,
    st.booleans(),
    st.booleans(),
    st.sampled_from([",", ";", "\t"]),
    st.booleans(),
    st.booleans(),
)
def test_any_well_list_round_trips_through_any_format(rows, header, padded, delimiter, crlf, bom):
    lines = ["Position" + delimiter + "Barcode"] if header else []
    for row, col, barcode in rows:
        position = f"{chr(64 + row)}{col:02d}" if padded else f"{chr(64 + row)}{col}"
        lines.append(position + delimiter + (barcode or "NO READ"))
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    data = ("\ufeff" if bom else "").encode() + text.encode()
    parsed = parse_rack_file(data)
    assert [(w.row, w.col, w.barcode) for w in parsed] == list(rows)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_parser(data):
    try:
        parse_rack_file(data)
    except RackFileError as error:
        assert str(error)


@pytest.mark.parametrize(
    "content",
    [
        b"Position,Barcode\nA1,TUBE1\nA2," + b"X" * (MAX_LINE_CHARS + 1) + b"\n",
        b"Position,Barcode\nA1,TUBE1\n" + b"Y" * 200_000 + b"\n",
    ],
    ids=["long-barcode", "long-line"],
)
def test_a_line_longer_than_the_csv_field_limit_is_named_with_the_limit(content):
    with pytest.raises(RackFileError) as refused:
        parse_rack_file(content)
    message = str(refused.value)
    assert message.startswith("Line 3 is too long")
    assert "131,072" in message


def test_a_stray_quote_spoils_only_its_line_and_blank_lines_keep_the_numbering():
    content = b'Position,Barcode\n\nA1,"TUBE1\n' + (b"\n" + b"B2," + b"T" * 60) * 2 + b"\n"
    with pytest.raises(RackFileError) as refused:
        parse_rack_file(content)
    assert str(refused.value).startswith("Line 6: B2 is read twice (lines 5 and 6: ")
    wells = parse_rack_file(b'Position,Barcode\n\nA1,"TUBE1\n\nA2,TUBE2\nZZ9,X\n')
    assert [(w.line, w.position, w.barcode) for w in wells] == [
        (3, "A1", "TUBE1"),
        (5, "A2", "TUBE2"),
        (6, "ZZ9", "X"),
    ]


def test_two_tubes_read_in_one_well_name_the_well_the_tubes_and_the_lines():
    content = b"Position,Barcode\nA1,TUBE1\nA2,TUBE2\nA01,TUBE3\n"
    with pytest.raises(RackFileError) as refused:
        parse_rack_file(content)
    assert str(refused.value).startswith(
        "Line 4: two tubes read in A1 (TUBE1 on line 2, TUBE3 on line 4)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"A1,TUBE1\nA1,tube1\n", "Line 2: A1 is read twice (lines 1 and 2: TUBE1, tube1)"),
        (b"A1,NO READ\nA1,TUBE1\n", "Line 2: A1 is read twice (lines 1 and 2: empty, TUBE1)"),
    ],
)
def test_a_well_read_twice_is_refused(content, message):
    with pytest.raises(RackFileError) as refused:
        parse_rack_file(content)
    assert str(refused.value).startswith(message)


def test_a_well_read_empty_twice_is_harmless():
    wells = parse_rack_file(b"A1,NO READ\nA1,\nA2,TUBE2\n")
    assert [(w.position, w.barcode) for w in wells] == [("A1", None), ("A1", None), ("A2", "TUBE2")]
