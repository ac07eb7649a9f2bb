import pytest

from labels import (
    DEFAULT_STOCK,
    STOCKS,
    LabelError,
    LabelStock,
    SheetGrid,
    UnknownStock,
    code128,
    get_stock,
)
from labels.layout import code128_layout, datamatrix_layout
from labels.spec import SAMPLE_ID_LENGTH


def test_required_stocks_exist_and_roll_is_default():
    assert {"cryo-roll", "cryo-sheet-letter", "cap-2d"} <= set(STOCKS)
    assert DEFAULT_STOCK == "cryo-roll"
    assert get_stock("cap-2d") is STOCKS["cap-2d"]


def test_unknown_stock_lists_the_valid_codes():
    with pytest.raises(UnknownStock) as raised:
        get_stock("avery-5160")
    message = str(raised.value)
    assert "avery-5160" in message
    for code in STOCKS:
        assert code in message
    assert isinstance(raised.value, LabelError)
    assert isinstance(raised.value, ValueError)


def test_roll_and_cap_geometry_in_printer_dots():
    roll = get_stock("cryo-roll")
    assert (roll.kind, roll.dpi, roll.symbology, roll.labels_per_page) == (
        "roll",
        300,
        "code128",
        1,
    )
    assert (roll.label_width_dots, roll.label_height_dots) == (378, 150)  # 32 x 12.7 mm
    cap = get_stock("cap-2d")
    assert (cap.kind, cap.dpi, cap.symbology) == ("roll", 300, "datamatrix")
    assert (cap.label_width_dots, cap.label_height_dots) == (150, 150)  # 12.7 mm square


def test_sheet_cells_are_on_the_page_and_do_not_overlap():
    sheet = get_stock("cryo-sheet-letter")
    assert sheet.kind == "sheet" and sheet.labels_per_page == 85
    page_width, page_height = sheet.dots(sheet.page_width_in), sheet.dots(sheet.page_height_in)
    boxes = [sheet.cell_box_dots(position) for position in range(1, 86)]
    for left, top, right, bottom in boxes:
        assert 0 < left < right < page_width and 0 < top < bottom < page_height
        assert (right - left, bottom - top) == (384, 150)
    # Row by row: position 6 starts the second row, under position 1.
    assert boxes[5][0] == boxes[0][0] and boxes[5][1] > boxes[0][3]
    assert boxes[1][1] == boxes[0][1] and boxes[1][0] > boxes[0][2]


@pytest.mark.parametrize("position", [0, 86])
def test_cell_box_outside_the_sheet_is_refused(position):
    with pytest.raises(LabelError, match="1 to 85"):
        get_stock("cryo-sheet-letter").cell_box_dots(position)


@pytest.mark.parametrize("code", ["cryo-roll", "cryo-sheet-letter"])
def test_code128_module_is_whole_dots_and_widest_id_fits_with_quiet_zones(code):
    stock = get_stock(code)
    layout = code128_layout(stock)
    assert layout.module_dots == 2  # measured: 2 dots at 300 dpi decodes reliably
    widest = code128.max_modules_for_length(SAMPLE_ID_LENGTH) + 2 * code128.QUIET_ZONE_MODULES
    assert widest * layout.module_dots <= stock.label_width_dots


def test_a_203_dpi_roll_gets_one_dot_modules():
    # The same 32 mm roll on a 203-dpi printer: 256 x 102 dots. Two-dot modules would
    # need 330 dots, so the layout must fall back to one dot.
    stock = LabelStock(
        code="roll-203",
        name="test",
        kind="roll",
        dpi=203,
        label_width_in=256 / 203,
        label_height_in=102 / 203,
        page_width_in=256 / 203,
        page_height_in=102 / 203,
        symbology="code128",
    )
    assert code128_layout(stock).module_dots == 1


def test_geometry_off_the_dot_grid_is_refused():
    with pytest.raises(LabelError, match="whole number of dots"):
        LabelStock(
            code="odd",
            name="test",
            kind="roll",
            dpi=300,
            label_width_in=1.2345,
            label_height_in=0.5,
            page_width_in=1.2345,
            page_height_in=0.5,
            symbology="code128",
        )


def test_a_too_narrow_stock_says_how_wide_it_must_be():
    narrow = LabelStock(
        code="narrow",
        name="test",
        kind="roll",
        dpi=300,
        label_width_in=0.5,
        label_height_in=0.5,
        page_width_in=0.5,
        page_height_in=0.5,
        symbology="code128",
    )
    with pytest.raises(LabelError, match="too narrow"):
        code128_layout(narrow)


def test_sheet_without_grid_and_roll_with_grid_are_refused():
    common = dict(
        name="test",
        dpi=300,
        label_width_in=1.0,
        label_height_in=0.5,
        page_width_in=8.5,
        page_height_in=11.0,
        symbology="code128",
    )
    with pytest.raises(LabelError, match="no grid"):
        LabelStock(code="s", kind="sheet", **common)
    grid = SheetGrid(rows=1, columns=1, left_margin_in=0, top_margin_in=0,
                     column_pitch_in=1, row_pitch_in=1)  # fmt: skip
    with pytest.raises(LabelError, match="one label per page"):
        LabelStock(code="r", kind="roll", grid=grid, **common)


def test_cap_datamatrix_modules_are_whole_dots():
    layout = datamatrix_layout(get_stock("cap-2d"))
    assert layout.module_dots(14) == 5
