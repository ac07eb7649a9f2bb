"""PDF output, checked the way a scanner and a reader would check it."""

import datetime

import pypdfium2
import pytest
import zxingcpp

from labels import LabelError, LabelSpec, get_stock, render_pdf
from labels.layout import code128_layout

COLLECTED = datetime.date(2025, 3, 14)
CODE128 = zxingcpp.BarcodeFormat.Code128
DATAMATRIX = zxingcpp.BarcodeFormat.DataMatrix


def _specs(ids, tube_code="1SST8", date=COLLECTED):
    return [LabelSpec(sample_id, tube_code, date) for sample_id in ids]


def _page_texts(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def _dark_runs(row: list[int]) -> list[int]:
    """Lengths of the alternating bar and space runs between the first and last bar."""
    dark = [value < 128 for value in row]
    first, last = dark.index(True), len(dark) - dark[::-1].index(True)
    runs, length = [], 1
    for previous, current in zip(dark[first : last - 1], dark[first + 1 : last], strict=True):
        if current == previous:
            length += 1
        else:
            runs.append(length)
            length = 1
    runs.append(length)
    return runs


@pytest.mark.parametrize(
    ("code", "symbology", "seed"), [("cryo-roll", CODE128, 1), ("cap-2d", DATAMATRIX, 2)]
)
def test_every_roll_label_scans_as_exactly_its_id(
    code, symbology, seed, random_ids, rasterize, decode
):
    stock = get_stock(code)
    ids = random_ids(40, seed)
    pages = rasterize(render_pdf(_specs(ids), code), stock.dpi)
    assert len(pages) == len(ids)
    for sample_id, page in zip(ids, pages, strict=True):
        assert page.size == (stock.label_width_dots, stock.label_height_dots)
        assert decode(page) == [(symbology, sample_id)]


def test_sheet_labels_scan_in_the_right_cells_across_pages(random_ids, rasterize, decode):
    stock = get_stock("cryo-sheet-letter")
    ids = random_ids(87, 3)  # 90 labels from position 80: 80-85 on page 1, 1-84 on page 2
    pages = rasterize(render_pdf(_specs(ids), stock, start_position=80), stock.dpi)
    assert len(pages) == 2
    cells = [(0, position) for position in range(80, 86)]
    cells += [(1, position) for position in range(1, 85)]
    expected = dict(zip(cells, ids, strict=True))
    for page_index, page in enumerate(pages):
        for position in range(1, stock.labels_per_page + 1):
            cell = page.crop(stock.cell_box_dots(position))
            wanted = expected.get((page_index, position))
            assert decode(cell) == ([(CODE128, wanted)] if wanted else []), (page_index, position)


def test_sheet_copies_fill_consecutive_cells(rasterize, decode):
    stock = get_stock("cryo-sheet-letter")
    specs = [LabelSpec("7KQ2M9XD3E", "URINE", COLLECTED, copies=2), *_specs(["0000000000"])]
    (page,) = rasterize(render_pdf(specs, stock, start_position=5), stock.dpi)
    found = [decode(page.crop(stock.cell_box_dots(position))) for position in (4, 5, 6, 7, 8)]
    assert found == [
        [],
        [(CODE128, "7KQ2M9XD3E")],
        [(CODE128, "7KQ2M9XD3E")],
        [(CODE128, "0000000000")],
        [],
    ]


@pytest.mark.parametrize("code", ["cryo-roll", "cryo-sheet-letter"])
def test_bars_are_whole_multiples_of_the_module_in_dots(code, rasterize):
    stock = get_stock(code)
    module = code128_layout(stock).module_dots
    page = rasterize(render_pdf(_specs(["7KQ2M9XD3E"]), stock), stock.dpi)[0]
    page = page.crop(stock.cell_box_dots(1))
    layout = code128_layout(stock)
    row_y = layout.bar_top_dots + layout.bar_height_dots // 2
    row = [page.getpixel((x, row_y)) for x in range(page.width)]
    runs = _dark_runs(row)
    assert all(run % module == 0 for run in runs), runs
    assert min(runs) == module
    assert sum(runs) == 145 * module  # 13 symbols; a crisp raster has no grey drift
    # Every edge is on the dot grid, so no pixel is half covered (grey).
    assert all(value <= 2 or value >= 253 for value in row)


def test_copies_print_one_roll_page_each():
    pdf = render_pdf([LabelSpec("7KQ2M9XD3E", "URINE", COLLECTED, copies=2)])
    assert len(_page_texts(pdf)) == 2


@pytest.mark.parametrize(
    ("code", "date", "expected"),
    [
        ("cryo-roll", COLLECTED, ["7KQ2M-9XD3E", "1SST8", "2025-03-14"]),
        ("cryo-roll", None, ["7KQ2M-9XD3E", "1SST8", "____-__-__"]),
        ("cap-2d", COLLECTED, ["7KQ2M-9XD3E", "1SST8"]),
    ],
)
def test_page_text_is_only_the_id_tube_code_and_date(code, date, expected):
    (text,) = _page_texts(render_pdf([LabelSpec("7KQ2M9XD3E", "1SST8", date)], code))
    assert text.split() == expected


def test_sheet_text_is_only_the_expected_tokens():
    specs = _specs(["7KQ2M9XD3E", "0123456789"])
    (text,) = _page_texts(render_pdf(specs, "cryo-sheet-letter", start_position=42))
    tokens = ["7KQ2M-9XD3E", "1SST8", "2025-03-14", "01234-56789", "1SST8", "2025-03-14"]
    assert text.split() == tokens


def test_output_is_deterministic():
    specs = _specs(["7KQ2M9XD3E", "0123456789"])
    assert render_pdf(specs) == render_pdf(specs)


def test_a_generator_of_labels_is_accepted():
    pdf = render_pdf(spec for spec in _specs(["7KQ2M9XD3E", "0123456789"]))
    assert len(_page_texts(pdf)) == 2


def test_long_tube_codes_shrink_to_fit_instead_of_overprinting(rasterize, decode):
    specs = _specs(["7KQ2M9XD3E"], tube_code="WWWWWWWWWWWW")
    (text,) = _page_texts(render_pdf(specs))
    assert text.split() == ["7KQ2M-9XD3E", "WWWWWWWWWWWW", "2025-03-14"]
    (page,) = rasterize(render_pdf(specs), 300)
    assert decode(page) == [(CODE128, "7KQ2M9XD3E")]


@pytest.mark.parametrize("start_position", [0, 86, -3])
def test_start_position_off_the_sheet_names_the_valid_range(start_position):
    with pytest.raises(LabelError, match="use 1 to 85"):
        render_pdf(_specs(["7KQ2M9XD3E"]), "cryo-sheet-letter", start_position=start_position)


def test_start_position_on_a_roll_is_refused():
    with pytest.raises(LabelError, match="one label per page, so use 1"):
        render_pdf(_specs(["7KQ2M9XD3E"]), "cryo-roll", start_position=2)


@pytest.mark.parametrize("labels", [[], iter(())])
def test_no_labels_is_an_error(labels):
    with pytest.raises(LabelError, match="at least one LabelSpec"):
        render_pdf(labels)


def test_unknown_stock_is_a_label_error():
    with pytest.raises(LabelError, match="cryo-roll"):
        render_pdf(_specs(["7KQ2M9XD3E"]), "cryo-rol")


def test_items_that_are_not_label_specs_are_refused():
    with pytest.raises(LabelError, match="Expected LabelSpec"):
        render_pdf(["7KQ2M9XD3E"])  # type: ignore[list-item]
