"""Every label scans, for any sample ID, on every stock, however the PDF is rendered.

Random valid sample IDs are drawn by hypothesis, rendered by pdfium and by poppler, each
smoothed (anti-aliased) and not, at 203 dpi (where the stock's modules allow it), 300 and
600 dpi, and decoded with zxing-cpp. Each page must also come out exactly as many pixels
as it is long: a renderer that gets a pixel more stretches the page over it, and every
bar edge then falls between pixels.

The IDs are made here from DESIGN §4 (nine characters and a Luhn mod 32 check character),
not by the app's ID service, which would pull Flask into the labels tests.
"""

from __future__ import annotations

import datetime
import math

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from labels import SAMPLE_ID_ALPHABET, STOCKS, LabelSpec, LabelStock, render_pdf
from labels.layout import code128_layout, datamatrix_layout
from tests.decoding import decode
from tests.labels.renderers import pdfium, poppler

RENDER_DPIS = (203, 300, 600)
# A module narrower than two pixels cannot keep its width: each edge rounds to a pixel, and
# a one-module bar comes out as wide as a two-module one. The 2-dot modules of the 300-dpi
# Code 128 stocks are 1.35 pixels at 203 dpi, and 3-dot modules would not fit their width,
# so those stocks are rendered at 300 and 600 dpi; the cap label's 5-dot modules also at 203.
MIN_MODULE_PIXELS = 2
SYMBOLOGY = {
    "code128": zxingcpp.BarcodeFormat.Code128,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
}
RENDERERS = {
    "pdfium": (pdfium(smooth=True), pdfium(smooth=False)),
    "poppler": (poppler(smooth=True), poppler(smooth=False)),
}


def check_character(payload: str) -> str:
    """DESIGN §4: Luhn mod 32 over the payload, doubling from its rightmost character."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = SAMPLE_ID_ALPHABET.index(char) * (2 if position % 2 == 0 else 1)
        total += value // 32 + value % 32
    return SAMPLE_ID_ALPHABET[-total % 32]


sample_ids = st.text(alphabet=SAMPLE_ID_ALPHABET, min_size=9, max_size=9).map(
    lambda payload: payload + check_character(payload)
)


@pytest.mark.parametrize(
    ("payload", "sample_id"),
    [
        ("7KQ2M9XD3", "7KQ2M9XD3E"),
        ("ABCDEFGHJ", "ABCDEFGHJT"),
        ("ZZZZZZZZZ", "ZZZZZZZZZ9"),
        ("000000000", "0000000000"),
    ],
)
def test_generated_ids_follow_the_design_check_character(payload, sample_id):
    assert payload + check_character(payload) == sample_id


def narrowest_module_dots(stock: LabelStock) -> int:
    if stock.symbology == "code128":
        return code128_layout(stock).module_dots
    # A sample ID is at most a 14 x 14 DataMatrix; smaller symbols get larger modules.
    return datamatrix_layout(stock).module_dots(14)


def render_dpis(stock: LabelStock) -> list[int]:
    module_in = narrowest_module_dots(stock) / stock.dpi
    return [dpi for dpi in RENDER_DPIS if module_in * dpi >= MIN_MODULE_PIXELS]


def test_every_stock_is_rendered_at_its_own_dpi_and_600_and_the_cap_label_at_203():
    assert {code: render_dpis(stock) for code, stock in STOCKS.items()} == {
        "cryo-roll": [300, 600],
        "cryo-sheet-letter": [300, 600],
        "cap-2d": [203, 300, 600],
    }


def _pixels(inches: float, dpi: int) -> int:
    """The page's length in whole pixels: a part pixel at the edge counts as one."""
    return math.ceil(inches * dpi - 1e-6)


@pytest.mark.parametrize("renderer_name", sorted(RENDERERS))
@pytest.mark.parametrize("code", sorted(STOCKS))
@settings(max_examples=15, deadline=None, derandomize=True)
@given(data=st.data())
def test_every_label_decodes_as_its_id_in_every_renderer(code, renderer_name, data):
    stock = STOCKS[code]
    ids = data.draw(st.lists(sample_ids, min_size=1, max_size=6), label="ids")
    start = 1
    if stock.grid is not None:
        start = data.draw(st.integers(1, stock.labels_per_page), label="start_position")
    specs = [LabelSpec(sample_id, "1SST8", datetime.date(2025, 3, 14)) for sample_id in ids]
    pdf = render_pdf(specs, stock, start_position=start)
    cells = [divmod(start - 1 + index, stock.labels_per_page) for index in range(len(ids))]
    failures = []
    for render in RENDERERS[renderer_name]:
        for dpi in render_dpis(stock):
            pages = render(pdf, dpi)
            assert len(pages) == cells[-1][0] + 1
            for page in pages:
                size = (_pixels(stock.page_width_in, dpi), _pixels(stock.page_height_in, dpi))
                assert page.size == size, (render.__name__, dpi)
            for sample_id, (page, cell) in zip(ids, cells, strict=True):
                box = tuple(round(v * dpi / stock.dpi) for v in stock.cell_box_dots(cell + 1))
                found = decode(pages[page].crop(box))
                if found != [(SYMBOLOGY[stock.symbology], sample_id)]:
                    failures.append(f"{sample_id} {render.__name__} {dpi} dpi: read {found}")
    assert not failures, "\n".join(failures)
