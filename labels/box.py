"""Freezer box labels: the box's code as Code 128 and as text, and where the box lives.

A box is found again by scanning its label, so the code is the label's point; the name
(``Freezer 1 › Rack 002 › Box 00017``) is for the person holding it. One 2.25 x 1.25 in
label per page, the common box-end size, with the manifest's whole-dot barcode.

A place too long for the label is shortened, never refused: the box's own name (after the
last ``›``) and the code are printed whole; the path above it loses characters from its
middle (``Freezer with a…pilot study``), since its ends say most.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from labels import code128
from labels.errors import LabelError
from labels.manifest_drawing import (
    BARCODE_HEIGHT_DOTS,
    BARCODE_MODULE_DOTS,
    POINTS_PER_DOT,
    draw_barcode,
)
from labels.spec import SAMPLE_ID_ALPHABET

BOX_LABEL_SIZE = (2.25 * inch, 1.25 * inch)
_MARGIN = 0.08 * inch
_NAME_FONT, _CODE_FONT = "Helvetica-Bold", "Helvetica"
_NAME_SIZES = (9, 8, 7, 6)  # the first that fits the width
_LEADING = 1.15  # line height, in font sizes
_CODE_SIZE = 8
_GAP = 2  # between the code's text and the bars, and between the bars and the name
PATH_SEPARATOR = " › "
ELLIPSIS = "…"
_CODE_CHARS = frozenset(SAMPLE_ID_ALPHABET)


@dataclass(frozen=True, slots=True)
class BoxLabelSpec:
    """One box's label: ``code`` is its barcode (``BX`` and nine Crockford characters),
    ``name`` where it lives, as people read it."""

    code: str
    name: str

    def __post_init__(self) -> None:
        if not (
            isinstance(self.code, str)
            and len(self.code) == 11
            and self.code.startswith("BX")
            and set(self.code[2:]) <= _CODE_CHARS
        ):
            raise LabelError(
                f"Box code {self.code!r} is not valid: it must be BX and nine characters "
                f"from {SAMPLE_ID_ALPHABET}."
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise LabelError("A box label needs the box's name.")
        if any(char in _LINE_BREAKS for char in self.name):
            raise LabelError("The box's name must be one line.")
        object.__setattr__(self, "name", _printable(self.name))


_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _printable(name: str) -> str:
    """The name as it can be printed: any space (a tab, a no-break space) an ordinary one, and
    invisible characters (a soft hyphen, a zero-width space, controls) left out."""
    kept = []
    for char in name:
        if char.isprintable():
            kept.append(char)
        elif char == "\t" or unicodedata.category(char) == "Zs":
            kept.append(" ")
    return "".join(kept)


def _barcode_width(code: str) -> float:
    modules = code128.symbol_modules(len(code128.encode(code))) + 2 * (code128.QUIET_ZONE_MODULES)
    return modules * BARCODE_MODULE_DOTS * POINTS_PER_DOT


def _width(text: str, size: float) -> float:
    return stringWidth(text, _NAME_FONT, size)


def _middle_shortened(text: str, room: float, size: float) -> str | None:
    """``text`` with characters taken from its middle (an ellipsis in their place) until it
    fits ``room``; None when not even the ellipsis fits."""
    if _width(text, size) <= room:
        return text

    def kept(count: int) -> str:
        head = (count + 1) // 2
        return text[:head] + ELLIPSIS + text[len(text) - (count - head) :]

    low, high = 0, len(text) - 1  # characters kept: the most that fit, by bisection
    if _width(kept(low), size) > room:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if _width(kept(middle), size) <= room:
            low = middle
        else:
            high = middle - 1
    return kept(low)


def _wrapped(text: str, width: float, size: float) -> list[str]:
    """``text`` on as many lines as it needs, broken between words (inside a word only when
    the word alone is wider than a line); every character kept."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if _width(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if line and _width(line + char, size) > width:
                lines.append(line)
                line = ""
            line += char
    lines.append(line)
    return lines


def _name_lines(name: str, width: float, height: float) -> tuple[list[str], float]:
    """The lines that show ``name`` in ``width`` x ``height`` points, and their font size.

    In order: the whole name on one line; the path on one line above the box's name; the path
    shortened in its middle above the box's name; the box's name over several lines under the
    shortened path. Never fails: a name longer than any the system stores loses its path,
    then characters from the middle of its last line.
    """
    for size in _NAME_SIZES:
        if _width(name, size) <= width:
            return [name], size
    path, _, box = name.rpartition(PATH_SEPARATOR)
    if path:
        for size in _NAME_SIZES:
            if _width(path, size) <= width and _width(box, size) <= width:
                return [path, box], size
        smallest = _NAME_SIZES[-1]
        if _width(box, smallest) <= width:
            return [_middle_shortened(path, width, smallest) or ELLIPSIS, box], smallest
    for size in _NAME_SIZES:
        fitting = int(height // (size * _LEADING))
        lines = _wrapped(box, width, size)
        if path:
            lines.insert(0, _middle_shortened(path, width, size) or ELLIPSIS)
        if len(lines) <= fitting:
            return lines, size
    size = _NAME_SIZES[-1]
    fitting = max(1, int(height // (size * _LEADING)))
    lines = _wrapped(box, width, size)
    if len(lines) > fitting:
        rest = "".join(lines[fitting - 1 :])
        lines = [*lines[: fitting - 1], _middle_shortened(rest, width, size) or ELLIPSIS]
    return lines, size


def render_box_labels(specs: Sequence[BoxLabelSpec]) -> bytes:
    if not specs:
        raise LabelError("No box labels to print.")
    width, height = BOX_LABEL_SIZE
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=BOX_LABEL_SIZE, pageCompression=1, invariant=True)
    canvas.setTitle("Box labels")
    code_bottom = _MARGIN
    bar_bottom = code_bottom + _CODE_SIZE + _GAP
    bar_top = bar_bottom + BARCODE_HEIGHT_DOTS * POINTS_PER_DOT
    name_room = (width - 2 * _MARGIN, height - _MARGIN - bar_top - _GAP)
    for spec in specs:
        lines, size = _name_lines(spec.name, *name_room)
        canvas.setFont(_NAME_FONT, size)
        for number, line in enumerate(lines):
            baseline = height - _MARGIN - size - number * size * _LEADING
            canvas.drawCentredString(width / 2, baseline, line)
        bar_right = (width + _barcode_width(spec.code)) / 2
        draw_barcode(canvas, spec.code, bar_right, bar_bottom)
        canvas.setFont(_CODE_FONT, _CODE_SIZE)
        canvas.drawCentredString(width / 2, code_bottom, spec.code)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
