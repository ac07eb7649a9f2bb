import random

import pytest
from reportlab.graphics.barcode import code128 as reportlab_code128

from labels import SAMPLE_ID_ALPHABET, code128


def test_pattern_table_matches_reportlab():
    # reportlab spells widths as letters (a/A = 1 module); ours are digits.
    theirs = reportlab_code128._patterns
    for value, pattern in enumerate(code128.PATTERNS):
        assert pattern == "".join(str(ord(ch.lower()) - 96) for ch in theirs[value])
    assert all(sum(map(int, p)) == 11 for p in code128.PATTERNS[:-1])


def test_all_digit_id_is_packed_in_subset_c():
    values = code128.encode("0123456789")
    assert values[0] == code128.START_C
    assert len(values) == 1 + 5 + 2  # start, five digit pairs, check, stop


def test_checksum_worked_by_hand():
    # Three digits do not pay for a switch to C, so all of it is subset B (char - 32).
    # Check: 104 + 1*48 + 2*42 + 3*42 + 4*17 + 5*18 + 6*19 + 7*35 = 879; 879 % 103 = 55.
    assert code128.encode("PJJ123C") == (104, 48, 42, 42, 17, 18, 19, 35, 55, 106)


@pytest.mark.parametrize("text", ["12345", "A1234B", "AB12345CD6", "1A", "123"])
def test_never_longer_than_reportlab_and_decodable_shapes(text):
    ours = code128.encode(text)
    theirs = reportlab_code128.Code128(text)
    theirs.validate()
    assert len(ours) <= len(theirs.encode())


def test_never_longer_than_reportlab_for_random_ids():
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10))
        theirs = reportlab_code128.Code128(text)
        theirs.validate()
        assert len(code128.encode(text)) <= len(theirs.encode())


def test_bars_span_exactly_the_symbol_width():
    values = code128.encode("7KQ2M9XD3E")
    last_left, last_width = code128.bars(values)[-1]
    assert last_left + last_width == code128.symbol_modules(len(values))
    assert code128.symbol_modules(len(values)) <= code128.max_modules_for_length(10)


def test_non_ascii_is_refused():
    with pytest.raises(ValueError, match="cannot encode"):
        code128.encode("é")
