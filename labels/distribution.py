"""The two sheets of a distribution to research: the pick list a technician carries to the
freezers, and the manifest that travels with the tubes to the study.

Neither has a field for a participant ID. The pick list names each tube by its sample ID and
where it sits (freezer path, box, position); the manifest names each tube under its **study
pseudonym** (the participant as that study knows them) beside its sample ID. Both are US
letter, built with reportlab's platypus like the shipment manifest: the table's headings
repeated on every page, a check box per tube to tick by hand, "Page X of Y" at the foot,
Flate-compressed and invariant (the same spec makes the same bytes).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer, Table, TableStyle

from labels.errors import LabelError
from labels.manifest import (
    BOLD,
    CONTENT_WIDTH,
    MARGIN,
    PAGE_WIDTH,
    REGULAR,
    RULE,
    STRIPE,
    _optional_text,
    _para,
    _text,
)
from labels.manifest_drawing import CheckBox, PageCountingCanvas, TickHeading
from labels.spec import is_valid_sample_id

_FRAME_PADDING = 6
_LONG = 300


def _sample_id(value: object) -> str:
    if not is_valid_sample_id(value):
        raise LabelError(f"Sample ID {value!r} is not valid: give the 10 characters, no hyphen.")
    assert isinstance(value, str)
    return f"{value[:5]}-{value[5:]}"


@dataclass(frozen=True, slots=True)
class PickListRow:
    """One reserved tube where it sits now: ``path`` is the freezer and the racks or shelves
    down to the box, already joined (``Freezer 1 › Rack 2``)."""

    sample_id: str
    tube_code: str
    volume_ml: str
    path: str
    box: str
    position: str
    picked: bool = False


@dataclass(frozen=True, slots=True)
class PickListSpec:
    """A request's pick list, in the order to walk the freezers."""

    request_id: int
    protocol: str  # approval number and title, as printed
    site: str
    printed_at: str
    rows: tuple[PickListRow, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        _text(self.protocol, "Protocol", _LONG)
        _text(self.site, "Site")
        _text(self.printed_at, "Printed-at time")
        for row in self.rows:
            _sample_id(row.sample_id)
            for value, what in ((row.path, "Freezer path"), (row.box, "Box")):
                _optional_text(value, what, _LONG)


@dataclass(frozen=True, slots=True)
class DistributedTube:
    """A tube on a distribution manifest: under the study's pseudonym, never the participant."""

    pseudonym: str
    sample_id: str
    tube_code: str
    volume_ml: str
    collection_date: str


@dataclass(frozen=True, slots=True)
class DistributionManifestSpec:
    shipment_id: int
    request_id: int
    protocol: str  # approval number and title
    origin: str  # the biobank: code and name
    origin_address: str | None
    institution: str
    institution_address: str
    responsible_person: str
    status: str
    printed_at: str
    tubes: tuple[DistributedTube, ...]
    carrier: str | None = None
    tracking_number: str | None = None
    dispatched_at: str | None = None
    dispatched_by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tubes", tuple(self.tubes))
        _text(self.protocol, "Protocol", _LONG)
        _text(self.origin, "Biobank")
        _optional_text(self.origin_address, "Biobank address", _LONG, 6)
        _text(self.institution, "Institution", _LONG)
        _optional_text(self.institution_address, "Institution address", _LONG, 6)
        _text(self.responsible_person, "Responsible person")
        for tube in self.tubes:
            _sample_id(tube.sample_id)
            _text(tube.pseudonym, "Study pseudonym")


# --- layout ------------------------------------------------------------------------------


def _table(headings: Sequence[str], rows: list[list[Any]], widths: Sequence[float]) -> Flowable:
    """Rows with a check box in the last column, headings repeated on every page."""
    table = Table(
        [[*headings[:-1], TickHeading(headings[-1])], *rows],
        colWidths=list(widths),
        repeatRows=1,
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), BOLD, 8.5),
                ("FONT", (0, 1), (-1, -1), REGULAR, 9),
                ("FONT", (1, 1), (1, -1), BOLD, 9),
                ("ALIGN", (-1, 0), (-1, -1), "CENTER"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [None, STRIPE]),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return table


def _footer(left: str, right: str, canvas: Canvas, page: int, pages: int) -> None:
    canvas.saveState()
    canvas.setFont(REGULAR, 8)
    baseline = MARGIN - 4
    canvas.drawString(MARGIN, baseline, left)
    canvas.drawCentredString(PAGE_WIDTH / 2, baseline, "No participant information.")
    canvas.drawRightString(PAGE_WIDTH - MARGIN, baseline, f"{right} · Page {page} of {pages}")
    canvas.restoreState()


def _render(title: str, story: list[Flowable], footer_right: str, printed_at: str) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=MARGIN - _FRAME_PADDING,
        rightMargin=MARGIN - _FRAME_PADDING,
        topMargin=MARGIN - _FRAME_PADDING,
        bottomMargin=MARGIN + 14 - _FRAME_PADDING,
        title=title,
        creator="biobank labels",
        author="",
        invariant=True,  # the same spec makes the same bytes
        pageCompression=1,  # Flate, whatever reportlab's process-wide default says
    )
    footer = partial(_footer, f"Printed {printed_at}", footer_right)
    document.build(story, canvasmaker=partial(PageCountingCanvas, footer=footer))
    return buffer.getvalue()


_PICK_COLUMNS = (24, 78, 52, 44, CONTENT_WIDTH - 336, 84, 44, 40)


def render_pick_list(spec: PickListSpec) -> bytes:
    """The pick list: every reserved tube in freezer, path, box and position order."""
    if not isinstance(spec, PickListSpec):
        raise LabelError(f"render_pick_list needs a PickListSpec, not {type(spec).__name__}.")
    picked = sum(row.picked for row in spec.rows)
    story: list[Flowable] = [
        _para(f"Pick list · distribution request {spec.request_id}", "banner"),
        _para(f"{spec.protocol} · {spec.site}"),
        _para(
            f"{len(spec.rows)} tubes, {picked} picked already. Walk the list in order: each "
            "freezer is opened once. Scan each tube as you take it."
        ),
        Spacer(1, 8),
    ]
    if spec.rows:
        rows = [
            [
                str(number),
                _sample_id(row.sample_id),
                row.tube_code,
                row.volume_ml,
                _para(row.path),
                _para(row.box),
                row.position,
                "picked" if row.picked else CheckBox(),
            ]
            for number, row in enumerate(spec.rows, start=1)
        ]
        headings = ["#", "Sample ID", "Tube", "mL", "Freezer path", "Box", "Position", "Picked"]
        story.append(_table(headings, rows, _PICK_COLUMNS))
    else:
        story.append(_para("No tube is reserved for this request."))
    title = f"Pick list, distribution request {spec.request_id}"
    return _render(title, story, f"Request {spec.request_id}", spec.printed_at)


_MANIFEST_COLUMNS = (24, 150, 78, 56, 44, 72, CONTENT_WIDTH - 424)


def _parties(spec: DistributionManifestSpec) -> Table:
    half = CONTENT_WIDTH / 2
    sender = [_para("FROM", "label"), _para(spec.origin, "party")]
    if spec.origin_address:
        sender.append(_para(spec.origin_address))
    receiver = [_para("TO", "label"), _para(spec.institution, "party")]
    if spec.institution_address:
        receiver.append(_para(spec.institution_address))
    receiver.append(_para(f"Responsible: {spec.responsible_person}"))
    table = Table([[sender, receiver]], colWidths=[half, half])
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.8, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return table


def render_distribution_manifest(spec: DistributionManifestSpec) -> bytes:
    """The manifest of an outbound shipment to a study: each tube under its study pseudonym."""
    if not isinstance(spec, DistributionManifestSpec):
        raise LabelError(
            f"render_distribution_manifest needs a DistributionManifestSpec, not "
            f"{type(spec).__name__}."
        )
    none = "—"
    shipping = (
        f"Status: {spec.status.replace('_', ' ')} · Carrier: {spec.carrier or none} · "
        f"Tracking: {spec.tracking_number or none} · Dispatched: {spec.dispatched_at or none}"
        + (f" by {spec.dispatched_by}" if spec.dispatched_by else "")
    )
    story: list[Flowable] = [
        _para(f"Distribution manifest · shipment D{spec.shipment_id}", "banner"),
        _para(f"{spec.protocol} · request {spec.request_id}"),
        Spacer(1, 6),
        _parties(spec),
        Spacer(1, 6),
        _para(shipping),
        _para(
            "Each tube is listed under its study pseudonym: the same participant has the same "
            "pseudonym throughout this study, and no other."
        ),
        _para(f"Tubes ({len(spec.tubes)})", "heading"),
    ]
    if spec.tubes:
        rows = [
            [
                str(number),
                tube.pseudonym,
                _sample_id(tube.sample_id),
                tube.tube_code,
                tube.volume_ml,
                tube.collection_date,
                CheckBox(),
            ]
            for number, tube in enumerate(spec.tubes, start=1)
        ]
        headings = ["#", "Study pseudonym", "Sample ID", "Tube", "mL", "Collected", "Received"]
        story.append(_table(headings, rows, _MANIFEST_COLUMNS))
    else:
        story.append(_para("No tubes packed yet."))
    title = f"Distribution manifest D{spec.shipment_id}"
    return _render(title, story, f"Shipment D{spec.shipment_id}", spec.printed_at)
