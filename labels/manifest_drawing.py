"""Drawing pieces for the shipment manifest: barcode, UN3373 diamond, check boxes, page totals.

Kept apart from ``labels.manifest`` so that module reads as "what a manifest says" and
this one as "how it is drawn". Nothing here knows about shipments.
"""

from __future__ import annotations

import math

from reportlab.graphics.shapes import Drawing, Polygon, String
from reportlab.lib.colors import black
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

from labels import code128

POINTS_PER_DOT = 72 / 300  # the manifest's barcode lands on whole dots of a 300-dpi printer
BARCODE_MODULE_DOTS = 3  # 0.72 pt (0.25 mm) modules: easy for any handheld scanner
BARCODE_HEIGHT_DOTS = 150  # 0.5 in
# Each bar is drawn a twentieth of a dot narrower on both sides. Rasterisers that fill
# axis-aligned rectangles by whole pixels (pdfium, many printer RIPs) take the outer
# pixel bounds, so an edge computed at 1952.9999 instead of 1953 would otherwise widen
# the bar by a whole dot; pixel-centre rasterisers are unaffected by so small an inset.
BAR_INSET_DOTS = 0.05


def snap_to_dots(points: float) -> float:
    """``points`` rounded down to a whole 300-dpi dot, so bar edges never straddle dots."""
    return math.floor(points / POINTS_PER_DOT + 1e-9) * POINTS_PER_DOT


def draw_barcode(canvas: Canvas, text: str, right: float, bottom: float) -> float:
    """Draw ``text`` as Code 128 with its right quiet zone ending at ``right``.

    Coordinates are page coordinates (the canvas must not be translated or scaled), and
    both are snapped down to whole dots, so every bar is a whole number of printer dots
    wide. Returns the left edge of the left quiet zone.
    """
    module = BARCODE_MODULE_DOTS * POINTS_PER_DOT
    values = code128.encode(text)
    modules = code128.symbol_modules(len(values))
    quiet = code128.QUIET_ZONE_MODULES * module
    bar_left = snap_to_dots(right) - quiet - modules * module
    bar_bottom = snap_to_dots(bottom)
    height = BARCODE_HEIGHT_DOTS * POINTS_PER_DOT
    inset = BAR_INSET_DOTS * POINTS_PER_DOT
    canvas.saveState()
    canvas.setFillGray(0)
    for x, width in code128.bars(values):
        left = bar_left + x * module + inset
        canvas.rect(left, bar_bottom, width * module - 2 * inset, height, stroke=0, fill=1)
    canvas.restoreState()
    return bar_left - quiet


def un3373_diamond(side: float = 50 * mm) -> Drawing:
    """The UN3373 mark: a square on its point, ``side`` long, "UN3373" inside.

    IATA P650 asks for sides of at least 50 mm, a line at least 2 mm wide and characters at
    least 6 mm high; the defaults meet all three when printed at 100 %.
    """
    line = 2 * mm
    half = side / math.sqrt(2)  # centre to corner
    extent = 2 * half + line  # the stroke sits half outside the outline
    centre = extent / 2
    drawing = Drawing(extent, extent)
    drawing.add(
        Polygon(
            [centre, centre + half, centre + half, centre, centre, centre - half, centre - half,
             centre],
            strokeColor=black,
            strokeWidth=line,
            fillColor=None,
            strokeLineJoin=0,
        )
    )  # fmt: skip
    # Helvetica-Bold capitals are 0.718 em tall: 26 pt gives 6.6 mm.
    drawing.add(
        String(
            centre,
            centre - 26 * 0.718 / 2,
            "UN3373",
            fontName="Helvetica-Bold",
            fontSize=26,
            textAnchor="middle",
        )
    )
    return drawing


class CheckBox(Flowable):
    """An empty square to tick by hand."""

    def __init__(self, side: float = 9) -> None:
        super().__init__()
        self.side = side
        self.width = side
        self.height = side

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.side, self.side

    def draw(self) -> None:
        self.canv.setLineWidth(0.8)
        self.canv.rect(0, 0, self.side, self.side, stroke=1, fill=0)


class TickHeading(Flowable):
    """A column heading followed by a drawn tick (Helvetica has no check-mark glyph)."""

    def __init__(self, text: str, font: str = "Helvetica-Bold", size: float = 9) -> None:
        super().__init__()
        self.text = text
        self.font = font
        self.size = size

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = stringWidth(self.text, self.font, self.size) + self.size
        self.height = self.size
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        canvas.setFont(self.font, self.size)
        canvas.drawString(0, 0.15 * self.size, self.text)
        left = self.width - 0.8 * self.size
        tick = canvas.beginPath()
        tick.moveTo(left, 0.45 * self.size)
        tick.lineTo(left + 0.25 * self.size, 0.15 * self.size)
        tick.lineTo(left + 0.75 * self.size, 0.85 * self.size)
        canvas.setLineWidth(1.1)
        canvas.drawPath(tick, stroke=1, fill=0)


class PageCountingCanvas(Canvas):
    """A canvas that holds pages back until the end so each can say "Page X of Y".

    ``footer`` is called with (canvas, page number, page count) on every page just
    before it is written out.
    """

    def __init__(self, *args, footer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._held_pages: list[dict] = []

    def showPage(self) -> None:
        self._held_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        count = len(self._held_pages)
        for number, state in enumerate(self._held_pages, start=1):
            self.__dict__.update(state)
            self._footer(self, number, count)
            super().showPage()
        super().save()
