"""Property tests: any valid spec renders, and ZPL carries the ID exactly as given."""

import datetime
import re

import pypdfium2
from hypothesis import given, settings
from hypothesis import strategies as st

from labels import SAMPLE_ID_ALPHABET, STOCKS, LabelSpec, render_pdf, render_zpl
from labels.spec import MAX_TUBE_CODE_LENGTH
from labels.zpl import ZPL_FORBIDDEN_CHARACTERS

sample_ids = st.text(alphabet=SAMPLE_ID_ALPHABET, min_size=10, max_size=10)
printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
tube_codes = st.text(alphabet=printable, min_size=1, max_size=MAX_TUBE_CODE_LENGTH).filter(
    lambda code: code.strip() == code and code.strip() != ""
)
zpl_tube_codes = tube_codes.filter(lambda code: not set(code) & set(ZPL_FORBIDDEN_CHARACTERS))
dates = st.none() | st.dates(min_value=datetime.date(2000, 1, 1))


@st.composite
def label_specs(draw, tube_code_strategy=tube_codes):
    return LabelSpec(
        draw(sample_ids),
        draw(tube_code_strategy),
        draw(dates),
        copies=draw(st.integers(min_value=1, max_value=3)),
    )


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(label_specs(zpl_tube_codes), min_size=1, max_size=4),
       code=st.sampled_from(["cryo-roll", "cap-2d"]))  # fmt: skip
def test_zpl_carries_each_id_once_per_copy_and_is_ascii(specs, code):
    zpl = render_zpl(specs, code)
    assert zpl.isascii()
    formats = re.findall(r"\^XA.*?\^XZ", zpl.decode("ascii"), flags=re.DOTALL)
    printed = [spec for spec in specs for _ in range(spec.copies)]
    assert len(formats) == len(printed)
    for spec, label in zip(printed, formats, strict=True):
        # The barcode's data field holds the bare ID, exactly once per label...
        assert re.findall(r"\^B[CX][^^]*\^FD([^^]*)\^FS", label) == [spec.sample_id]
        # ...and the label's fields are that, the grouped ID, tube code and date only.
        fields = [spec.sample_id, spec.display_id, spec.tube_code]
        if STOCKS[code].prints_date:
            fields.append(spec.display_date)
        assert re.findall(r"\^FD([^^]*)\^FS", label) == fields


@settings(max_examples=150, deadline=None)
@given(
    specs=st.lists(label_specs(), min_size=1, max_size=4),
    code=st.sampled_from(sorted(STOCKS)),
    start_position=st.integers(min_value=1, max_value=85),
)
def test_render_pdf_never_raises_for_valid_specs(specs, code, start_position):
    stock = STOCKS[code]
    position = start_position if stock.kind == "sheet" else 1
    pdf = render_pdf(specs, code, start_position=position)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    labels = sum(spec.copies for spec in specs)
    cells_used = position - 1 + labels
    expected_pages = -(-cells_used // stock.labels_per_page)  # ceiling division
    document = pypdfium2.PdfDocument(pdf)
    try:
        assert len(document) == expected_pages
    finally:
        document.close()
