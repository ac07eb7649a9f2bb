"""Label stocks described as data.

Every length is in inches (the unit label vendors and printer dpi use) and must land on a
whole number of printer dots at the stock's dpi: bar and module widths are snapped to
whole dots, and that only helps if the label itself starts on a dot boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labels.errors import LabelError, UnknownStock

StockKind = Literal["roll", "sheet"]
Symbology = Literal["code128", "datamatrix"]

POINTS_PER_INCH = 72.0


@dataclass(frozen=True, slots=True)
class SheetGrid:
    """Where the labels sit on a sheet; positions are numbered row by row from 1."""

    rows: int
    columns: int
    left_margin_in: float  # page edge to the left edge of the first column
    top_margin_in: float  # page edge to the top edge of the first row
    column_pitch_in: float  # left edge to left edge of neighbouring columns
    row_pitch_in: float  # top edge to top edge of neighbouring rows

    @property
    def positions(self) -> int:
        return self.rows * self.columns


@dataclass(frozen=True, slots=True)
class LabelStock:
    """A kind of blank label and the printer it is made for."""

    code: str
    name: str
    kind: StockKind
    dpi: int
    label_width_in: float
    label_height_in: float
    page_width_in: float
    page_height_in: float
    symbology: Symbology
    grid: SheetGrid | None = None
    # Thermal-transfer stocks go to Zebra-style printers; laser sheets cannot.
    zpl: bool = False
    # Cap labels are too small for the date, and the tube side label carries it anyway.
    prints_date: bool = True

    def __post_init__(self) -> None:
        if self.kind == "sheet" and self.grid is None:
            raise LabelError(f"Stock {self.code!r} is a sheet but has no grid: describe one.")
        if self.kind == "roll" and self.grid is not None:
            raise LabelError(f"Stock {self.code!r} is a roll: rolls print one label per page.")
        if self.symbology == "datamatrix" and self.prints_date:
            raise LabelError(
                f"Stock {self.code!r}: DataMatrix cap labels have no room for a date; "
                "set prints_date=False."
            )
        lengths = [self.label_width_in, self.label_height_in]
        lengths += [self.page_width_in, self.page_height_in]
        if self.grid is not None:
            lengths += [self.grid.left_margin_in, self.grid.top_margin_in]
            lengths += [self.grid.column_pitch_in, self.grid.row_pitch_in]
        for length in lengths:
            if abs(length * self.dpi - round(length * self.dpi)) > 1e-6:
                raise LabelError(
                    f"Stock {self.code!r}: {length} in is not a whole number of dots at "
                    f"{self.dpi} dpi; round the geometry to 1/{self.dpi} in."
                )

    @property
    def labels_per_page(self) -> int:
        return 1 if self.grid is None else self.grid.positions

    @property
    def label_width_dots(self) -> int:
        return self.dots(self.label_width_in)

    @property
    def label_height_dots(self) -> int:
        return self.dots(self.label_height_in)

    @property
    def points_per_dot(self) -> float:
        return POINTS_PER_INCH / self.dpi

    def dots(self, inches: float) -> int:
        return round(inches * self.dpi)

    def cell_box_dots(self, position: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of label ``position`` (1-based) in page dots.

        Measured from the page's top-left corner, as a rasterised page image is.
        """
        if not 1 <= position <= self.labels_per_page:
            raise LabelError(
                f"Position {position} is not on a {self.code} page: use 1 to "
                f"{self.labels_per_page}."
            )
        left = top = 0
        if self.grid is not None:
            row, column = divmod(position - 1, self.grid.columns)
            left = self.dots(self.grid.left_margin_in + column * self.grid.column_pitch_in)
            top = self.dots(self.grid.top_margin_in + row * self.grid.row_pitch_in)
        return left, top, left + self.label_width_dots, top + self.label_height_dots


CRYO_ROLL = LabelStock(
    code="cryo-roll",
    name="Cryo roll, 1.26 x 0.5 in, thermal transfer 300 dpi",
    kind="roll",
    dpi=300,
    label_width_in=1.26,
    label_height_in=0.5,
    page_width_in=1.26,
    page_height_in=0.5,
    symbology="code128",
    zpl=True,
)

# 5 x 17 = 85 labels of 1.28 x 0.5 in, the common cryo laser-sheet format; margins and
# gaps are symmetric so a slightly skewed feed still keeps every label on its cell.
CRYO_SHEET_LETTER = LabelStock(
    code="cryo-sheet-letter",
    name="Cryo sheet, US letter, 85 labels 1.28 x 0.5 in, laser",
    kind="sheet",
    dpi=300,  # laser printers are at least 300 dpi; snapping to 300 also fits 600
    label_width_in=1.28,
    label_height_in=0.5,
    page_width_in=8.5,
    page_height_in=11.0,
    symbology="code128",
    grid=SheetGrid(
        rows=17,
        columns=5,
        left_margin_in=0.35,
        top_margin_in=0.45,
        column_pitch_in=1.63,
        row_pitch_in=0.6,
    ),
)

CAP_2D = LabelStock(
    code="cap-2d",
    name="Cap label, 0.5 x 0.5 in, DataMatrix, thermal transfer 300 dpi",
    kind="roll",
    dpi=300,
    label_width_in=0.5,
    label_height_in=0.5,
    page_width_in=0.5,
    page_height_in=0.5,
    symbology="datamatrix",
    zpl=True,
    prints_date=False,
)

STOCKS: dict[str, LabelStock] = {
    stock.code: stock for stock in (CRYO_ROLL, CRYO_SHEET_LETTER, CAP_2D)
}
DEFAULT_STOCK = CRYO_ROLL.code


def get_stock(code: str) -> LabelStock:
    """The stock called ``code``; ``UnknownStock`` lists the valid codes otherwise."""
    try:
        return STOCKS[code]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(STOCKS))
        raise UnknownStock(f"Unknown label stock {code!r}: choose one of {valid}.") from None


def resolve_stock(stock: LabelStock | str) -> LabelStock:
    return stock if isinstance(stock, LabelStock) else get_stock(stock)
