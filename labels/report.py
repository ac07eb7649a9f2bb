"""A report as a printable PDF table: title, when it was made, columns, rows, a note.

Landscape US letter, the header row repeated on every page, "Page X of Y" in the footer;
built with reportlab's platypus like the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from labels.errors import LabelError


@dataclass(frozen=True)
class ReportDoc:
    title: str
    generated: str  # already formatted, e.g. "2026-11-24 14:05 CST"
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    note: str = ""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise LabelError("A report needs a title.")
        width = len(self.columns)
        if any(len(row) != width for row in self.rows):
            raise LabelError("Every row of a report must have one value per column.")


def _cell(value: Any, style) -> Paragraph:
    text = "" if value is None else str(value)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(escaped, style)


def render_report(doc: ReportDoc) -> bytes:
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("cell", fontSize=8, leading=10)
    head = styles["BodyText"].clone("head", fontSize=8, leading=10, fontName="Helvetica-Bold")
    buffer = BytesIO()
    page = SimpleDocTemplate(
        buffer,
        pagesize=landscape(letter),
        title=doc.title,
        leftMargin=0.5 * inch,
        rightMargin=0.5 * inch,
        topMargin=0.5 * inch,
        bottomMargin=0.6 * inch,
        invariant=True,  # the same rows make the same bytes
        pageCompression=1,  # Flate, whatever reportlab's process-wide default says
    )
    table_rows = [[_cell(heading, head) for heading in doc.columns]]
    table_rows += [[_cell(v, small) for v in row] for row in doc.rows]
    story: list[Any] = [
        Paragraph(doc.title, styles["Title"]),
        Paragraph(f"Made {doc.generated} · {len(doc.rows)} rows", styles["BodyText"]),
    ]
    if doc.note:
        story.append(Paragraph(doc.note, styles["Italic"]))
    story.append(Spacer(1, 0.15 * inch))
    if doc.rows:
        table = Table(table_rows, repeatRows=1, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6eef9")),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                    (
                        "ROWBACKGROUNDS",
                        (0, 1),
                        (-1, -1),
                        [colors.white, colors.HexColor("#f4f6f8")],
                    ),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(table)
    else:
        story.append(Paragraph("Nothing to report.", styles["BodyText"]))

    def footer(canvas, template) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(
            0.5 * inch,
            0.35 * inch,
            f"{doc.title} · Page {canvas.getPageNumber()} · anonymous sample IDs only",
        )
        canvas.restoreState()

    page.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
