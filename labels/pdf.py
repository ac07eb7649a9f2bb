"""PDF rendering, tuned for thousands of labels per job.

Speed comes from doing per-stock work once: each stock gets a painter holding its layout
and a cache of ready-formatted bar operators, so a label costs one string join for the
bars plus three short text operators. Pages go straight to a streaming writer, so memory
stays flat however long the job is (see ``labels.pdfwriter`` for why not reportlab's
canvas; reportlab still supplies the Helvetica metrics used to centre and fit text).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from functools import lru_cache

from labels import code128
from labels.datamatrix import datamatrix
from labels.errors import LabelError
from labels.layout import TextSlot, code128_layout, datamatrix_layout
from labels.pdfwriter import FONT_RESOURCES, StreamingPdf, pdf_string
from labels.pdfwriter import pdf_number as _num
from labels.spec import LabelSpec
from labels.stocks import DEFAULT_STOCK, POINTS_PER_INCH, LabelStock, resolve_stock

# Every bar (and DataMatrix run) is drawn this fraction of a dot inside its true edges.
# Renderers that fill whole pixels without anti-aliasing (poppler's ``pdftoppm -aa no``, many
# printer RIPs) also fill a pixel a bar's edge only touches, so a bar ending exactly on a
# pixel edge grows by a pixel and the space after it shrinks by one: roll labels decoded 333
# times in 400 that way at 300 dpi. A two-hundredth of a dot is too little for an
# anti-aliasing renderer to show (half a percent of one edge pixel's grey).
BAR_INSET_DOTS = 0.005
_REPEATED_TEXT_CACHE_SIZE = 4096


class _Painter(ABC):
    """PDF operators for one stock's labels, given the label's bottom-left in page points."""

    def __init__(self, stock: LabelStock) -> None:
        self.stock = stock
        self.points_per_dot = stock.points_per_dot
        self.height_dots = stock.label_height_dots
        # (slot, text, left, bottom) -> text operators, for the fields that repeat from label
        # to label (tube code, date). Emptied when full, so it stays small on any job.
        self._repeated_text: dict[tuple[TextSlot, str, float, float], str] = {}

    @abstractmethod
    def paint(self, spec: LabelSpec, left_pt: float, bottom_pt: float) -> str: ...

    def _repeated(self, slot: TextSlot, text: str, left_pt: float, bottom_pt: float) -> str:
        key = (slot, text, left_pt, bottom_pt)
        operators = self._repeated_text.get(key)
        if operators is None:
            if len(self._repeated_text) >= _REPEATED_TEXT_CACHE_SIZE:
                self._repeated_text.clear()
            operators = self._repeated_text[key] = self._text(slot, text, left_pt, bottom_pt)
        return operators

    def _text(self, slot: TextSlot, text: str, left_pt: float, bottom_pt: float) -> str:
        ppd = self.points_per_dot
        size, width = slot.fit(text, ppd)
        x = left_pt + slot.left_dots * ppd
        if slot.align != "left":
            slack = (slot.right_dots - slot.left_dots) * ppd - width
            x += slack / 2 if slot.align == "center" else slack
        y = bottom_pt + (self.height_dots - slot.baseline_dots) * ppd
        font = FONT_RESOURCES[slot.font]
        return f"BT /{font} {_num(size)} Tf {_num(x)} {_num(y)} Td {pdf_string(text)} Tj ET\n"


class _Code128Painter(_Painter):
    def __init__(self, stock: LabelStock) -> None:
        super().__init__(stock)
        self.layout = code128_layout(stock)
        self.module_pt = self.layout.module_dots * self.points_per_dot
        self.inset_pt = BAR_INSET_DOTS * self.points_per_dot
        self.bar_height = _num(self.layout.bar_height_dots * self.points_per_dot)
        # (symbol index, symbol value) -> "x 0 w h re" operators for that symbol's bars,
        # relative to the barcode's bottom-left corner. Bounded: 107 values x ~14 slots.
        self._bar_operators: dict[tuple[int, int], str] = {}

    def _symbol_operators(self, index: int, value: int) -> str:
        key = (index, value)
        operators = self._bar_operators.get(key)
        if operators is None:
            offset = index * code128.MODULES_PER_SYMBOL
            module, inset = self.module_pt, self.inset_pt
            operators = "".join(
                f"{_num((offset + x) * module + inset)} 0 {_num(w * module - 2 * inset)} "
                f"{self.bar_height} re\n"
                for x, w in code128.SYMBOL_BARS[value]
            )
            self._bar_operators[key] = operators
        return operators

    def paint(self, spec: LabelSpec, left_pt: float, bottom_pt: float) -> str:
        layout = self.layout
        ppd = self.points_per_dot
        values = code128.encode(spec.sample_id)
        modules = code128.symbol_modules(len(values))
        bar_left = left_pt + layout.bar_left_dots(self.stock.label_width_dots, modules) * ppd
        bar_bottom = (
            bottom_pt + (self.height_dots - layout.bar_top_dots - layout.bar_height_dots) * ppd
        )
        symbol_operators = self._symbol_operators
        bars = "".join([symbol_operators(i, v) for i, v in enumerate(values)])
        parts = [
            # All bars as one filled path, translated into place (q/Q restores the matrix).
            f"q 1 0 0 1 {_num(bar_left)} {_num(bar_bottom)} cm\n{bars}f Q\n",
            self._text(layout.id_slot, spec.display_id, left_pt, bottom_pt),
            self._repeated(layout.tube_slot, spec.tube_code, left_pt, bottom_pt),
        ]
        if self.stock.prints_date:
            parts.append(self._repeated(layout.date_slot, spec.display_date, left_pt, bottom_pt))
        return "".join(parts)


class _DataMatrixPainter(_Painter):
    def __init__(self, stock: LabelStock) -> None:
        super().__init__(stock)
        self.layout = datamatrix_layout(stock)

    def paint(self, spec: LabelSpec, left_pt: float, bottom_pt: float) -> str:
        layout = self.layout
        ppd = self.points_per_dot
        matrix = datamatrix(spec.sample_id)
        module_dots = layout.module_dots(max(matrix.rows, matrix.columns))
        if module_dots < 1:
            raise LabelError(
                f"Stock {self.stock.code!r} is too small for the DataMatrix of "
                f"{spec.sample_id}: choose a larger cap stock."
            )
        width_dots = matrix.columns * module_dots
        height_dots = matrix.rows * module_dots
        left_dots = (self.stock.label_width_dots - width_dots) // 2
        top_dots = layout.box_top_dots + (layout.box_side_dots - height_dots) // 2
        module_pt = module_dots * ppd
        inset = BAR_INSET_DOTS * ppd
        # Rows run top-down in the matrix and bottom-up in PDF space.
        origin_x = left_pt + left_dots * ppd
        origin_y = bottom_pt + (self.height_dots - top_dots) * ppd
        runs = "".join(
            f"{_num(column * module_pt + inset)} {_num(-(row + 1) * module_pt + inset)} "
            f"{_num(length * module_pt - 2 * inset)} {_num(module_pt - 2 * inset)} re\n"
            for row, column, length in matrix.dark_runs
        )
        return "".join(
            [
                f"q 1 0 0 1 {_num(origin_x)} {_num(origin_y)} cm\n{runs}f Q\n",
                self._text(layout.id_slot, spec.display_id, left_pt, bottom_pt),
                self._repeated(layout.tube_slot, spec.tube_code, left_pt, bottom_pt),
            ]
        )


@lru_cache(maxsize=32)
def _painter(stock: LabelStock) -> _Painter:
    if stock.symbology == "code128":
        return _Code128Painter(stock)
    return _DataMatrixPainter(stock)


def _label_copies(labels: Iterable[LabelSpec]) -> Iterator[LabelSpec]:
    for spec in labels:
        if not isinstance(spec, LabelSpec):
            raise LabelError(f"Expected LabelSpec items to print, got {type(spec).__name__}.")
        for _ in range(spec.copies):
            yield spec


def check_start_position(stock: LabelStock, start_position: int) -> None:
    if isinstance(start_position, bool) or not isinstance(start_position, int):
        raise LabelError(f"start_position must be a whole number, not {start_position!r}.")
    if stock.grid is None:
        if start_position != 1:
            raise LabelError(
                f"start_position {start_position} does not apply to {stock.code}: it prints "
                "one label per page, so use 1 (start positions are for part-used sheets)."
            )
    elif not 1 <= start_position <= stock.labels_per_page:
        raise LabelError(
            f"start_position {start_position} is outside the {stock.code} sheet: use 1 to "
            f"{stock.labels_per_page} (positions run row by row from the top left)."
        )


def render_pdf(
    labels: Iterable[LabelSpec],
    stock: LabelStock | str = DEFAULT_STOCK,
    *,
    start_position: int = 1,
) -> bytes:
    """A PDF of the labels (each repeated ``copies`` times) on ``stock``.

    Rolls print one label per page, sized to the label. Sheets fill cells row by row
    from ``start_position`` (1-based) and continue on new pages as needed.
    """
    stock = resolve_stock(stock)
    check_start_position(stock, start_position)
    painter = _painter(stock)
    document = StreamingPdf(
        stock.page_width_in * POINTS_PER_INCH, stock.page_height_in * POINTS_PER_INCH
    )
    per_page = stock.labels_per_page
    cell_origins = [_cell_origin_pt(stock, position) for position in range(1, per_page + 1)]
    cell = start_position - 1
    page: list[str] = []
    for spec in _label_copies(labels):
        left, bottom = cell_origins[cell]
        page.append(painter.paint(spec, left, bottom))
        cell += 1
        if cell == per_page:
            document.add_page("".join(page))
            page.clear()
            cell = 0
    if page:
        document.add_page("".join(page))
    if document.page_count == 0:
        raise LabelError("No labels to print: pass at least one LabelSpec.")
    return document.finish()


def _cell_origin_pt(stock: LabelStock, position: int) -> tuple[float, float]:
    """Bottom-left corner of a label cell in PDF points (origin at the page's bottom-left)."""
    left, _top, _right, bottom = stock.cell_box_dots(position)
    ppd = stock.points_per_dot
    return left * ppd, stock.page_height_in * POINTS_PER_INCH - bottom * ppd
