from __future__ import annotations

import pypdfium2
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from labels import BoxLabelSpec, LabelError, render_box_labels
from tests import decoding

CODE = "BX7KQ2M9XD3"


def test_each_box_label_scans_back_to_its_code_and_names_the_box():
    specs = [
        BoxLabelSpec(CODE, "Freezer 1 › Rack 002 › Box 00017"),
        BoxLabelSpec("BX00000000Z", "Freezer 2 › Shelf 1 › Box 1"),
    ]
    pdf = render_box_labels(specs)
    pages = decoding.rasterize(pdf, dpi=300)
    assert [page.size for page in pages] == [(675, 375)] * 2  # 2.25 x 1.25 in at 300 dpi
    for page, spec in zip(pages, specs, strict=True):
        assert decoding.decode(page) == [(zxingcpp.BarcodeFormat.Code128, spec.code)]
    text = decoding.pdf_text(pdf)
    assert "Freezer 1 › Rack 002 › Box 00017" in text and CODE in text


def test_a_long_name_is_shortened_to_fit_and_the_code_still_scans():
    name = "Freezer with a very long name › Shelf 10 › Rack for the pilot study › Box 00017"
    pdf = render_box_labels([BoxLabelSpec(CODE, name[:80])])
    [page] = decoding.rasterize(pdf, dpi=300)
    assert decoding.decode(page) == [(zxingcpp.BarcodeFormat.Code128, CODE)]
    shown = decoding.pdf_text(pdf)
    assert "…" in shown and name[:80] not in shown and name[:20] in shown


@pytest.mark.parametrize(
    ("code", "name", "message"),
    [
        ("MN7KQ2M9XD3", "Box 1", "BX and nine"),
        ("BX7KQ2M9XD", "Box 1", "BX and nine"),
        ("BX7KQ2M9XDU", "Box 1", "BX and nine"),  # U is not Crockford
        (CODE, "  ", "needs the box's name"),
        (CODE, "Box\n1", "one line"),
    ],
)
def test_bad_box_labels_are_refused_with_what_to_fix(code, name, message):
    with pytest.raises(LabelError, match=message):
        BoxLabelSpec(code, name)


def test_an_empty_job_is_refused():
    with pytest.raises(LabelError, match="No box labels"):
        render_box_labels([])


# --- a place too long for the label: shortened, never refused ---------------------------------

LABEL_WIDTH, LABEL_HEIGHT = 162.0, 90.0  # 2.25 x 1.25 in
BARS_TOP = 0.08 * 72 + 8 + 2 + 36  # margin, code text, gap, 0.5 in of bars


def _glyph_boxes(pdf: bytes) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every character drawn on the (single) page with its box (left, bottom, right, top)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        text = document[0].get_textpage()
        glyphs = []
        for index in range(text.count_chars()):
            char = text.get_text_range(index, 1)
            if char.strip():
                glyphs.append((char, text.get_charbox(index)))
        return glyphs
    finally:
        document.close()


def _assert_fits(pdf: bytes) -> None:
    """Every character lies on the label, and the name's lie above the bars."""
    for char, (left, bottom, right, top) in _glyph_boxes(pdf):
        assert left >= 0 and right <= LABEL_WIDTH and bottom >= 0 and top <= LABEL_HEIGHT, char
    name_glyphs = [box for _, box in _glyph_boxes(pdf) if box[1] > BARS_TOP - 20]
    assert all(bottom >= BARS_TOP for _, bottom, _, _ in name_glyphs)


def _squeezed(text: str) -> str:
    """Text without its spaces and line breaks; pdfium reads a hyphen that ends a line as
    U+FFFE (its mark for a soft hyphen), so that is read back as the hyphen it was."""
    return "".join(text.replace("\ufffe", "-").split())


@pytest.mark.parametrize(
    ("path", "box"),
    [
        ("Freezer with a very long name › Shelf 10 › Rack for the pilot study", "Box 00017"),
        ("Upright freezer in the basement corridor next to the loading dock " * 3, "Box 7"),
        (" › ".join(f"Level {n} of the nested storage tree" for n in range(12)), "Box 00017"),
        ("Freezer 1 › Rack 2", "Aliquots of the longitudinal cohort for the pilot study " * 2),
        ("F" * 100 + " › " + "S" * 100, "W" * 100),
    ],
    ids=["path-longer-than-a-line", "one-long-freezer", "deep-tree", "long-box", "widest"],
)
def test_a_place_too_long_is_shortened_in_the_path_keeping_box_name_and_code(path, box):
    name = f"{path.strip()} › {box.strip()}"
    pdf = render_box_labels([BoxLabelSpec(CODE, name)])
    [page] = decoding.rasterize(pdf, dpi=300)
    assert decoding.decode(page) == [(zxingcpp.BarcodeFormat.Code128, CODE)]
    shown = decoding.pdf_text(pdf)
    assert _squeezed(box) in _squeezed(shown)  # the box's own name, every character
    assert CODE in shown
    assert _squeezed(name) not in _squeezed(shown)  # shortened: the path lost its middle
    _assert_fits(pdf)


def test_a_shortened_path_keeps_its_ends():
    path = "Freezer with a very long name › Shelf 10 › Rack for the pilot study"
    pdf = render_box_labels([BoxLabelSpec(CODE, f"{path} › Box 00017")])
    first_line, second_line = decoding.pdf_text(pdf).splitlines()[:2]
    head, tail = first_line.split("…")
    assert path.startswith(head) and path.endswith(tail) and len(head) >= 20
    assert second_line.strip() == "Box 00017"


segments = (
    st.text(
        alphabet=st.characters(codec="latin-1", categories=("L", "N", "P", "S", "Zs", "Cf")),
        min_size=1,
        max_size=100,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=40, deadline=None)
@given(st.lists(segments, min_size=1, max_size=8))
def test_any_place_prints_within_the_label_with_the_box_name_whole(parts):
    name = " › ".join(parts)
    pdf = render_box_labels([BoxLabelSpec(CODE, name)])
    _assert_fits(pdf)
    shown = decoding.pdf_text(pdf)
    visible = "".join(char for char in parts[-1] if char != "\N{SOFT HYPHEN}")
    assert _squeezed(visible) in _squeezed(shown)
    assert CODE in shown


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("Box\u00a01", "Box 1"),  # a no-break space, as pasted from a spreadsheet
        ("Box\t1", "Box 1"),
        ("Box\u00ad\u200b1", "Box1"),  # a soft hyphen and a zero-width space: invisible
    ],
)
def test_spaces_and_invisible_characters_print_rather_than_fail(name, printed):
    pdf = render_box_labels([BoxLabelSpec(CODE, name)])
    assert decoding.pdf_text(pdf).splitlines()[0] == printed
