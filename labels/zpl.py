"""ZPL II for Zebra-style thermal-transfer printers.

One ``^XA ... ^XZ`` format per printed label (copies are repeated formats rather than
``^PQ`` so a print server can count, split or reprint individual labels). Geometry comes
from the same dot layout as the PDF, so both outputs look alike. Sheet stocks are laser
media and are refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from labels import code128
from labels.datamatrix import datamatrix
from labels.errors import LabelError
from labels.layout import TextSlot, code128_layout, datamatrix_layout
from labels.spec import LabelSpec
from labels.stocks import DEFAULT_STOCK, STOCKS, LabelStock, resolve_stock

# ^ and ~ start ZPL commands, and a backslash is swallowed as an escape inside the ^FB
# blocks used to align text. Plain ^FD has no safe way to escape any of them.
ZPL_FORBIDDEN_CHARACTERS = "^~\\"

# Resident font 0's cap height is 0.75 of its nominal height; Helvetica's is 0.718 em.
# Scaling by their ratio makes ZPL capitals as tall as the PDF's.
_FONT0_HEIGHT_PER_EM = 0.718 / 0.75

_JUSTIFY = {"left": "L", "center": "C", "right": "R"}


def _check_zpl_text(field: str, text: str) -> None:
    bad = sorted({char for char in text if char in ZPL_FORBIDDEN_CHARACTERS})
    if bad:
        shown = " ".join(bad)
        raise LabelError(
            f"{field} {text!r} contains {shown}, which ZPL printers read as commands: "
            "remove it, or print this label as PDF."
        )


def _text_field(stock: LabelStock, slot: TextSlot, text: str) -> str:
    size_pt = slot.fitted_size_pt(text, stock.points_per_dot)
    height = max(1, round(size_pt / stock.points_per_dot * _FONT0_HEIGHT_PER_EM))
    font = f"^A0N,{height},0^FD{text}^FS"
    # ^FT puts the baseline at y. Alignment needs a one-line ^FB block, and a block
    # overprints text that overflows it, so right-aligned text gets a block reaching
    # back to the label edge (the glyph widths of font 0 differ from Helvetica's).
    if slot.align == "left":
        return f"^FT{slot.left_dots},{slot.baseline_dots}{font}"
    left = slot.left_dots if slot.align == "center" else 0
    justify = _JUSTIFY[slot.align]
    return f"^FT{left},{slot.baseline_dots}^FB{slot.right_dots - left},1,0,{justify},0{font}"


def _code128_fields(stock: LabelStock, spec: LabelSpec) -> list[str]:
    layout = code128_layout(stock)
    modules = code128.symbol_modules(len(code128.encode(spec.sample_id)))
    left = layout.printer_bar_left_dots(stock.label_width_dots, modules)
    fields = [
        # Mode A: the printer chooses subsets, so ^FD holds the plain sample ID.
        f"^FO{left},{layout.bar_top_dots}^BY{layout.module_dots}"
        f"^BCN,{layout.bar_height_dots},N,N,N,A^FD{spec.sample_id}^FS",
        _text_field(stock, layout.id_slot, spec.display_id),
        _text_field(stock, layout.tube_slot, spec.tube_code),
    ]
    if stock.prints_date:
        fields.append(_text_field(stock, layout.date_slot, spec.display_date))
    return fields


def _datamatrix_fields(stock: LabelStock, spec: LabelSpec) -> list[str]:
    layout = datamatrix_layout(stock)
    matrix = datamatrix(spec.sample_id)
    module_dots = layout.module_dots(max(matrix.rows, matrix.columns))
    left = (stock.label_width_dots - matrix.columns * module_dots) // 2
    top = layout.box_top_dots + (layout.box_side_dots - matrix.rows * module_dots) // 2
    return [
        # ECC 200, size chosen by the printer (0,0), format 6 = 8-bit, square symbols.
        f"^FO{left},{top}^BXN,{module_dots},200,0,0,6,_,1^FD{spec.sample_id}^FS",
        _text_field(stock, layout.id_slot, spec.display_id),
        _text_field(stock, layout.tube_slot, spec.tube_code),
    ]


def render_zpl(labels: Iterable[LabelSpec], stock: LabelStock | str = DEFAULT_STOCK) -> bytes:
    """ZPL for the labels, one ``^XA...^XZ`` per copy, as ASCII bytes."""
    stock = resolve_stock(stock)
    if not stock.zpl:
        capable = ", ".join(code for code, known in STOCKS.items() if known.zpl)
        raise LabelError(
            f"Stock {stock.code} is not printed on a ZPL printer: use render_pdf for it, "
            f"or choose a ZPL stock ({capable})."
        )
    fields_for = _datamatrix_fields if stock.symbology == "datamatrix" else _code128_fields
    header = f"^XA^CI0^PW{stock.label_width_dots}^LL{stock.label_height_dots}^LH0,0"
    formats: list[str] = []
    for spec in labels:
        if not isinstance(spec, LabelSpec):
            raise LabelError(f"Expected LabelSpec items to print, got {type(spec).__name__}.")
        _check_zpl_text("Tube code", spec.tube_code)
        label = "\n".join([header, *fields_for(stock, spec), "^XZ\n"])
        formats.extend([label] * spec.copies)
    if not formats:
        raise LabelError("No labels to print: pass at least one LabelSpec.")
    # Everything above is ASCII by construction (LabelSpec admits printable ASCII only).
    return "".join(formats).encode("ascii")
