import random
import subprocess
import sys
from pathlib import Path

import pytest
import zxingcpp
from barcode.codex import Code128 as PythonBarcodeCode128
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from reportlab.graphics.barcode import code128 as reportlab_code128

from labels import SAMPLE_ID_ALPHABET, code128

ROOT = Path(__file__).resolve().parents[2]


def _module_string(values) -> str:
    """Our symbol as python-barcode spells one: "1" per bar module, "0" per space module."""
    modules = ["0"] * code128.symbol_modules(len(values))
    for left, width in code128.bars(values):
        modules[left : left + width] = ["1"] * width
    return "".join(modules)


def _decoded(values) -> list[str]:
    """What zxing-cpp reads from our symbol drawn at 3 pixels a module with quiet zones."""
    quiet = "0" * code128.QUIET_ZONE_MODULES
    row = bytes(0 if module == "1" else 255 for module in quiet + _module_string(values) + quiet)
    image = Image.frombytes("L", (len(row), 1), row).resize((3 * len(row), 30))
    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_pattern_table_matches_reportlab():
    # The bar/space patterns come from python-barcode; reportlab keeps its own table
    # (widths as letters, a/A = 1 module). Two independent tables that agree.
    theirs = reportlab_code128._patterns
    for value, symbol_bars in enumerate(code128.SYMBOL_BARS):
        width = code128.STOP_MODULES if value == code128.STOP else code128.MODULES_PER_SYMBOL
        modules = _module_string([value])[:width]
        widths = "".join(str(ord(ch.lower()) - 96) for ch in theirs[value])
        runs, previous, length = [], modules[0], 0
        for module in modules:
            if module != previous:
                runs.append(length)
                previous, length = module, 0
            length += 1
        runs.append(length)
        assert "".join(map(str, runs)) == widths, value
        assert all(width >= 1 for _, width in symbol_bars)
    assert len(code128.SYMBOL_BARS) == code128.STOP + 1


def test_all_digit_id_is_packed_in_subset_c():
    values = code128.encode("0123456789")
    assert values[0] == code128.START_C
    assert len(values) == 1 + 5 + 2  # start, five digit pairs, check, stop


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("01", (105, 1)),  # two digits alone: one subset C pair
        ("012", (104, 16, 17, 18)),  # a tie stays in subset B
        ("A012B", (104, 33, 16, 17, 18, 34)),
        ("A0123", (104, 33, 99, 1, 23)),  # four digits at the end
        ("0123AB", (105, 1, 23, 100, 33, 34)),  # four digits at the start
        ("A0123B", (104, 33, 16, 17, 18, 19, 34)),  # four in the middle: a tie
        ("AB123456CD", (104, 33, 34, 99, 12, 34, 56, 100, 35, 36)),  # six in the middle
    ],
)
def test_subset_c_is_used_exactly_where_it_shortens_the_symbol(text, values):
    encoded = code128.encode(text)
    assert encoded[:-2] == values
    assert _decoded(encoded) == [text]


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
    assert _decoded(ours) == [text]


def test_never_longer_than_reportlab_for_random_ids():
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10))
        theirs = reportlab_code128.Code128(text)
        theirs.validate()
        assert len(code128.encode(text)) <= len(theirs.encode())


def test_modules_are_python_barcodes_own_where_it_chooses_the_same_subsets():
    rng = random.Random(11)
    texts = ["0123456789", "PJJ123C", "A1234B", "1A", "~`{|}", "MN-2025-0042"]
    texts += ["".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10)) for _ in range(500)]
    compared = 0
    for text in texts:
        ours = code128.encode(text)
        theirs = PythonBarcodeCode128(text)  # one instance per text: it keeps subset state
        if list(ours[:-2]) == theirs.encoded:
            assert _module_string(ours) == theirs.build()[0], text
            compared += 1
        else:  # a tie, or python-barcode's greedy switch made a longer symbol
            assert len(ours) - 2 <= len(theirs.encoded), text
    assert compared >= 400  # 450 of the 506: most IDs need no digit run packed at all


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
               max_size=24))  # fmt: skip
def test_any_printable_text_decodes_as_itself_and_fits_the_widest_bound(text):
    values = code128.encode(text)
    assert code128.symbol_modules(len(values)) <= code128.max_modules_for_length(len(text))
    assert _decoded(values) == [text]


def test_bars_span_exactly_the_symbol_width():
    values = code128.encode("7KQ2M9XD3E")
    last_left, last_width = code128.bars(values)[-1]
    assert last_left + last_width == code128.symbol_modules(len(values))
    assert code128.symbol_modules(len(values)) <= code128.max_modules_for_length(10)


def test_non_ascii_is_refused():
    with pytest.raises(ValueError, match="cannot encode"):
        code128.encode("é")


def test_code_set_is_python_barcodes_own():
    from barcode.charsets import code128 as python_barcode

    ours = code128._code_set
    assert ours is python_barcode or ours.__file__ == python_barcode.__file__
    for table in ("CODES", "STOP", "A", "B", "C", "START_CODES", "TO"):
        assert getattr(ours, table) == getattr(python_barcode, table), table


def test_printing_labels_does_not_load_python_barcodes_writers():
    # Their import pulls in Pillow's FreeType binding: 2.2 MB in every label process.
    script = "import sys, labels; print(sorted(m for m in sys.modules if m.startswith('barcode')))"
    loaded = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert loaded.strip() == "[]"
