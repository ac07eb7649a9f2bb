"""Label geometry in printer dots, shared by the PDF and ZPL renderers.

Working in dots (not points) is what keeps barcodes scannable: every bar, module and
label edge lands on a whole dot, so the printer never has to round a 2-dot module to 1
or 3. Vertical positions scale with the label height so a taller custom stock keeps the
same proportions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from reportlab.pdfbase.pdfmetrics import stringWidth

from labels import code128
from labels.errors import LabelError
from labels.spec import BLANK_DATE_TEXT, SAMPLE_ID_LENGTH
from labels.stocks import LabelStock

ID_FONT = "Helvetica-Bold"
SMALL_FONT = "Helvetica"
DATAMATRIX_QUIET_MODULES = 1  # ISO/IEC 16022 minimum on each side

Align = Literal["left", "center", "right"]


@dataclass(frozen=True, slots=True)
class TextSlot:
    """A one-line text field: text is shrunk (never grown) to fit between left and right."""

    font: str
    size_pt: float
    baseline_dots: int  # from the label's top edge
    left_dots: int
    right_dots: int
    align: Align

    def fitted_size_pt(self, text: str, points_per_dot: float) -> float:
        return self.fit(text, points_per_dot)[0]

    def fit(self, text: str, points_per_dot: float) -> tuple[float, float]:
        """(font size, text width) in points, measuring the text once."""
        available = (self.right_dots - self.left_dots) * points_per_dot
        natural = stringWidth(text, self.font, self.size_pt)
        if natural <= available:
            return self.size_pt, natural
        return self.size_pt * available / natural, available


@dataclass(frozen=True, slots=True)
class Code128Layout:
    module_dots: int
    bar_top_dots: int
    bar_height_dots: int
    max_symbol_modules: int  # widest symbol any sample ID can need (all subset B)
    id_slot: TextSlot
    tube_slot: TextSlot
    date_slot: TextSlot

    def bar_left_dots(self, label_width_dots: int, symbol_modules: int) -> int:
        """Left edge that centres a symbol of exactly ``symbol_modules``."""
        return (label_width_dots - symbol_modules * self.module_dots) // 2

    def printer_bar_left_dots(self, label_width_dots: int, symbol_modules: int) -> int:
        """Left edge for a symbol the printer encodes itself (ZPL ^BC automatic mode).

        Its subset choice can be a symbol or so longer than ours, so centre on our
        width but never so far right that the widest possible symbol would eat into
        the right quiet zone.
        """
        quiet = code128.QUIET_ZONE_MODULES * self.module_dots
        rightmost = label_width_dots - quiet - self.max_symbol_modules * self.module_dots
        return min(self.bar_left_dots(label_width_dots, symbol_modules), rightmost)


@dataclass(frozen=True, slots=True)
class DataMatrixLayout:
    box_top_dots: int
    box_side_dots: int  # square area for the symbol and its quiet zone
    id_slot: TextSlot
    tube_slot: TextSlot

    def module_dots(self, symbol_modules: int) -> int:
        return self.box_side_dots // (symbol_modules + 2 * DATAMATRIX_QUIET_MODULES)


@lru_cache(maxsize=32)
def code128_layout(stock: LabelStock) -> Code128Layout:
    width = stock.label_width_dots
    height = stock.label_height_dots
    height_pt = stock.label_height_in * 72
    edge = stock.dots(0.02)  # slack for roll registration / sheet feed skew
    # Size the module for the widest possible sample ID so every label of a stock has
    # the same bar width, then snap it down to whole printer dots.
    widest_symbol = code128.max_modules_for_length(SAMPLE_ID_LENGTH)
    widest = widest_symbol + 2 * code128.QUIET_ZONE_MODULES
    module_dots = (width - 2 * edge) // widest
    if module_dots < 1:
        needed = widest + 2 * edge
        raise LabelError(
            f"Stock {stock.code!r} is too narrow for a Code 128 sample ID at {stock.dpi} dpi: "
            f"make it at least {needed} dots ({needed / stock.dpi:.2f} in) wide."
        )
    margin = round(0.12 * height)
    small_size = 0.18 * height_pt
    # The date column is as wide as the widest date text, so the tube code gets the rest.
    date_width = stock.dots(stringWidth(BLANK_DATE_TEXT, SMALL_FONT, small_size) / 72)
    small_baseline = round(0.907 * height)
    return Code128Layout(
        module_dots=module_dots,
        bar_top_dots=round(0.06 * height),
        bar_height_dots=round(0.44 * height),
        max_symbol_modules=widest_symbol,
        id_slot=TextSlot(
            ID_FONT, 0.222 * height_pt, round(0.713 * height), margin, width - margin, "center"
        ),
        tube_slot=TextSlot(
            SMALL_FONT, small_size, small_baseline, margin, width - margin - date_width - margin,
            "left",
        ),
        date_slot=TextSlot(
            SMALL_FONT, small_size, small_baseline, width - margin - date_width, width - margin,
            "right",
        ),
    )  # fmt: skip


@lru_cache(maxsize=32)
def datamatrix_layout(stock: LabelStock) -> DataMatrixLayout:
    width = stock.label_width_dots
    height = stock.label_height_dots
    side = min(width, height)
    id_size = 0.17 * stock.label_height_in * 72
    tube_size = 0.15 * stock.label_height_in * 72
    margin = round(0.05 * width)
    return DataMatrixLayout(
        box_top_dots=round(0.04 * height),
        box_side_dots=round(0.54 * side),
        id_slot=TextSlot(ID_FONT, id_size, round(0.75 * height), margin, width - margin, "center"),
        tube_slot=TextSlot(
            SMALL_FONT, tube_size, round(0.93 * height), margin, width - margin, "center"
        ),
    )
