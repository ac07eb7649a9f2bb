"""Freezer box labels: the box's code as Code 128 and as text, and where the box lives.

A box is found again by scanning its label, so the code is the label's point; the name
(``Freezer 1 › Rack 002 › Box 00017``) is for the person holding it. One 2.25 x 1.25 in
label per page, the common box-end size, with the manifest's whole-dot barcode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from labels import code128
from labels.errors import LabelError
from labels.manifest_drawing import (
    BARCODE_MODULE_DOTS,
    POINTS_PER_DOT,
    draw_barcode,
)
from labels.spec import SAMPLE_ID_ALPHABET

BOX_LABEL_SIZE = (2.25 * inch, 1.25 * inch)
_MARGIN = 0.08 * inch
_NAME_FONT, _CODE_FONT = "Helvetica-Bold", "Helvetica"
_NAME_SIZES = (9, 8, 7, 6)  # the first that fits the width
MAX_NAME_LENGTH = 80
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
        if len(self.name) > MAX_NAME_LENGTH or not self.name.isprintable():
            raise LabelError(
                f"The box's name must be one line of at most {MAX_NAME_LENGTH} characters."
            )


def _barcode_width(code: str) -> float:
    modules = code128.symbol_modules(len(code128.encode(code))) + 2 * (code128.QUIET_ZONE_MODULES)
    return modules * BARCODE_MODULE_DOTS * POINTS_PER_DOT


def _fitted(text: str, width: float) -> tuple[str, float]:
    """The name at the largest size that fits; cut with an ellipsis at the smallest."""
    for size in _NAME_SIZES:
        if stringWidth(text, _NAME_FONT, size) <= width:
            return text, size
    size = _NAME_SIZES[-1]
    while text and stringWidth(text + "…", _NAME_FONT, size) > width:
        text = text[:-1]
    return text + "…", size


def render_box_labels(specs: Sequence[BoxLabelSpec]) -> bytes:
    if not specs:
        raise LabelError("No box labels to print.")
    width, height = BOX_LABEL_SIZE
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=BOX_LABEL_SIZE, pageCompression=1)
    canvas.setTitle("Box labels")
    for spec in specs:
        name, size = _fitted(spec.name, width - 2 * _MARGIN)
        canvas.setFont(_NAME_FONT, size)
        canvas.drawCentredString(width / 2, height - _MARGIN - size, name)
        code_size = 8
        code_bottom = _MARGIN
        bar_bottom = code_bottom + code_size + 2
        bar_right = (width + _barcode_width(spec.code)) / 2
        draw_barcode(canvas, spec.code, bar_right, bar_bottom)
        canvas.setFont(_CODE_FONT, code_size)
        canvas.drawCentredString(width / 2, code_bottom, spec.code)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
