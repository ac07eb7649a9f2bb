"""The shipment manifest: the sheet of paper that travels with a box of tubes.

It says where the box comes from and goes to, how it is kept cold, who answers for it
(IATA P650), and lists every tube by its anonymous sample ID so the biobank can tick
each one off on arrival. Like a label it never carries participant information: the
specs below hold site details, shipping facts and tubes (sample ID, tube code, collection
date), and no free-text note that could carry anything else.

``render_manifest`` lays the sheet out with reportlab's platypus on US letter: a running
header on every page (title, manifest number in large text and as Code 128, route), the
parties, shipping details, the UN3373 mark (and UN1845 dry ice when frozen), the tube
table (split across pages with its column headings repeated), totals per tube code, and
signature blanks for packing and receipt; "Page X of Y" at the foot of every page.
"""

from __future__ import annotations

import datetime
import io
import math
from collections import Counter
from dataclasses import dataclass
from functools import partial
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from labels.errors import LabelError
from labels.manifest_drawing import (
    CheckBox,
    PageCountingCanvas,
    TickHeading,
    draw_barcode,
    un3373_diamond,
)
from labels.spec import MAX_TUBE_CODE_LENGTH, SAMPLE_ID_ALPHABET, SAMPLE_ID_LENGTH
from labels.spec import is_valid_sample_id as _is_valid_sample_id

TEMPERATURES = ("ambient", "refrigerated", "frozen")
STATUSES = ("open", "in_transit", "received", "received_with_discrepancies", "cancelled")
MAX_MANIFEST_NUMBER_LENGTH = 24  # the barcode and large number still share one line
MAX_SITE_CODE_LENGTH = 32
NOT_DISPATCHED = "not yet dispatched"
NONE_TEXT = "—"

_TEMPERATURE_TEXT = {
    "ambient": "Ambient",
    "refrigerated": "Refrigerated",
    "frozen": "Frozen, on dry ice",
}
_STATUS_TEXT = {
    "open": "Open (packing)",
    "in_transit": "In transit",
    "received": "Received",
    "received_with_discrepancies": "Received with discrepancies",
    "cancelled": "Cancelled",
}

# Free-text limits: generous for real data, small enough that no field can push a table
# cell past a page (which platypus cannot split).
_NAME_LENGTH = 100
_ADDRESS_LENGTH = 300
_ADDRESS_LINES = 6
_SHORT_LENGTH = 60


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class ManifestParty:
    """A site at one end of the shipment, as printed in the From / To boxes.

    ``address`` may span several lines (``\\n``); blank optional fields count as absent.
    """

    code: str
    name: str
    address: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        _check_code(self.code, "Site code")
        _set(self, "name", _text(self.name, f"Name of site {self.code}", _NAME_LENGTH))
        _set(
            self,
            "address",
            _optional_text(
                self.address, f"Address of site {self.code}", _ADDRESS_LENGTH, _ADDRESS_LINES
            ),
        )
        _set(self, "phone", _optional_text(self.phone, f"Phone of site {self.code}"))


@dataclass(frozen=True, slots=True)
class ManifestTube:
    """One tube in the box: its sample ID (without the hyphen), tube code and date.

    ``collection_date`` is already in the collecting site's time zone, or ``None``.
    """

    sample_id: str
    tube_code: str
    collection_date: datetime.date | None

    def __post_init__(self) -> None:
        if not _is_valid_sample_id(self.sample_id):
            hint = ""
            if isinstance(self.sample_id, str) and "-" in self.sample_id:
                hint = " Remove the hyphen: give the ID without grouping."
            raise LabelError(
                f"Sample ID {self.sample_id!r} is not valid: it must be {SAMPLE_ID_LENGTH} "
                f"characters from {SAMPLE_ID_ALPHABET}.{hint}"
            )
        _check_code(self.tube_code, f"Tube code of sample {self.sample_id}", MAX_TUBE_CODE_LENGTH)
        date = self.collection_date
        if isinstance(date, datetime.datetime):
            raise LabelError(
                f"The collection date of sample {self.sample_id} must be a datetime.date in "
                "the collecting site's time zone, not a datetime: convert it with "
                ".astimezone(site_zone).date() first."
            )
        if date is not None and not isinstance(date, datetime.date):
            raise LabelError(
                f"The collection date of sample {self.sample_id} must be a datetime.date or "
                f"None, not {date!r}."
            )

    @property
    def display_id(self) -> str:
        half = SAMPLE_ID_LENGTH // 2
        return f"{self.sample_id[:half]}-{self.sample_id[half:]}"

    @property
    def display_date(self) -> str:
        return NONE_TEXT if self.collection_date is None else self.collection_date.isoformat()


@dataclass(frozen=True, slots=True)
class ManifestSpec:
    """Everything a manifest prints. Text fields are printed as given (already formatted).

    ``tubes`` is stored as a tuple (a list is accepted and converted); it may be empty
    only while the shipment is ``open``, so a draft can be printed while packing.
    ``dry_ice_kg`` is required for, and only allowed on, ``frozen`` shipments.
    """

    manifest_number: str
    origin: ManifestParty
    destination: ManifestParty
    temperature: str
    tubes: tuple[ManifestTube, ...]
    responsible_person: str
    responsible_phone: str | None
    printed_at: str
    status: str
    carrier: str | None = None
    tracking_number: str | None = None
    dry_ice_kg: float | None = None
    dispatched_at: str | None = None
    dispatched_by: str | None = None

    def __post_init__(self) -> None:
        _check_manifest_number(self.manifest_number)
        for role, party in (("origin", self.origin), ("destination", self.destination)):
            if not isinstance(party, ManifestParty):
                raise LabelError(f"The {role} must be a ManifestParty, not {party!r}.")
        if self.origin.code == self.destination.code:
            raise LabelError(
                f"Origin and destination are both {self.origin.code}: a shipment goes from "
                "one site to another."
            )
        if self.temperature not in TEMPERATURES:
            raise LabelError(
                f"Temperature {self.temperature!r} is not a shipping temperature class: use "
                "'ambient', 'refrigerated' or 'frozen'."
            )
        if self.status not in STATUSES:
            raise LabelError(
                f"Status {self.status!r} is not a shipment status: use one of "
                f"{', '.join(repr(status) for status in STATUSES)}."
            )
        _check_dry_ice(self.temperature, self.dry_ice_kg)
        _check_tubes(self)
        _set(self, "responsible_person", _text(self.responsible_person, "Responsible person"))
        _set(
            self,
            "responsible_phone",
            _optional_text(self.responsible_phone, "Responsible person's phone"),
        )
        _set(self, "printed_at", _text(self.printed_at, "Printed-at time", _SHORT_LENGTH))
        _set(self, "carrier", _optional_text(self.carrier, "Carrier"))
        _set(self, "tracking_number", _optional_text(self.tracking_number, "Tracking number"))
        _set(self, "dispatched_at", _optional_text(self.dispatched_at, "Dispatched-at time"))
        _set(
            self,
            "dispatched_by",
            _optional_text(self.dispatched_by, "Dispatched by", _NAME_LENGTH),
        )

    def tube_totals(self) -> list[tuple[str, int]]:
        """(tube code, number of tubes) in tube-code order."""
        return sorted(Counter(tube.tube_code for tube in self.tubes).items())


# ----------------------------------------------------------------------- validation


def _set(instance: object, name: str, value: object) -> None:
    object.__setattr__(instance, name, value)


def _check_manifest_number(number: object) -> None:
    if not isinstance(number, str) or not number.strip():
        raise LabelError(f"Manifest number {number!r} is not valid: give a non-empty number.")
    if not all(" " <= char <= "~" for char in number):
        raise LabelError(
            f"Manifest number {number!r} contains characters a Code 128 barcode cannot carry "
            "here: use printable ASCII letters, digits and punctuation only."
        )
    if number != number.strip():
        raise LabelError(f"Manifest number {number!r} has surrounding spaces: remove them.")
    if len(number) > MAX_MANIFEST_NUMBER_LENGTH:
        raise LabelError(
            f"Manifest number {number!r} is too long to print as a barcode: use at most "
            f"{MAX_MANIFEST_NUMBER_LENGTH} characters."
        )


def _check_code(code: object, what: str, max_length: int = MAX_SITE_CODE_LENGTH) -> None:
    if not isinstance(code, str) or not code.strip():
        raise LabelError(f"{what} {code!r} is not valid: give a non-empty code.")
    if not all(" " <= char <= "~" for char in code):
        raise LabelError(
            f"{what} {code!r} contains characters the manifest cannot print: use printable "
            "ASCII letters, digits and punctuation only."
        )
    if code != code.strip():
        raise LabelError(f"{what} {code!r} has surrounding spaces: remove them.")
    if len(code) > max_length:
        raise LabelError(f"{what} {code!r} is too long: use at most {max_length} characters.")


def _check_printable(value: str, what: str, multiline: bool) -> None:
    for char in value:
        if char == "\n" and multiline:
            continue
        if char < " " or "\x7f" <= char < "\xa0":
            raise LabelError(
                f"{what} contains a control character ({char!r}): remove it"
                + (" (one line only)." if char == "\n" else ".")
            )
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            raise LabelError(
                f"{what} contains {char!r}, which the manifest's built-in Helvetica font "
                "cannot print: replace it with a Latin-1 equivalent (e.g. without the accent)."
            ) from None


def _text(value: object, what: str, max_length: int = _NAME_LENGTH) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelError(f"{what} is missing: give it as non-empty text.")
    value = value.strip()
    _check_printable(value, what, multiline=False)
    if len(value) > max_length:
        raise LabelError(f"{what} is too long: shorten it to at most {max_length} characters.")
    return value


def _optional_text(
    value: object, what: str, max_length: int = _SHORT_LENGTH, max_lines: int = 1
) -> str | None:
    """``value`` tidied (lines stripped, blank lines dropped), or None when blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LabelError(f"{what} must be text or None, not {value!r}.")
    if max_lines > 1:
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        if len(lines) > max_lines:
            raise LabelError(f"{what} has {len(lines)} lines: fit it on at most {max_lines}.")
        value = "\n".join(lines)
    else:
        value = value.strip()
    if not value:
        return None
    _check_printable(value, what, multiline=max_lines > 1)
    if len(value) > max_length:
        raise LabelError(f"{what} is too long: shorten it to at most {max_length} characters.")
    return value


def _check_dry_ice(temperature: str, kilograms: object) -> None:
    if temperature != "frozen":
        if kilograms is not None:
            raise LabelError(
                f"dry_ice_kg is given for a {temperature} shipment: dry ice is only for frozen "
                "shipments, so remove it or set the temperature to 'frozen'."
            )
        return
    if kilograms is None:
        raise LabelError(
            "A frozen shipment travels on dry ice: give dry_ice_kg, the net weight of dry ice "
            "in kilograms, for the UN1845 marking."
        )
    if isinstance(kilograms, bool) or not isinstance(kilograms, int | float):
        raise LabelError(f"dry_ice_kg must be a number of kilograms, not {kilograms!r}.")
    if not math.isfinite(kilograms) or kilograms <= 0:
        raise LabelError(
            f"dry_ice_kg must be a weight above 0 kg, not {kilograms!r}: give the net weight "
            "of dry ice in the package."
        )
    if round(kilograms, 1) == 0:
        raise LabelError(
            f"dry_ice_kg {kilograms!r} prints as 0.0 kg: give the weight to at least 0.1 kg."
        )


def _check_tubes(spec: ManifestSpec) -> None:
    tubes = spec.tubes
    if isinstance(tubes, list):
        tubes = tuple(tubes)
        _set(spec, "tubes", tubes)
    if not isinstance(tubes, tuple):
        raise LabelError(f"tubes must be a tuple of ManifestTube, not {type(tubes).__name__}.")
    seen: set[str] = set()
    for index, tube in enumerate(tubes, start=1):
        if not isinstance(tube, ManifestTube):
            raise LabelError(f"Tube {index} must be a ManifestTube, not {tube!r}.")
        if tube.sample_id in seen:
            raise LabelError(
                f"Sample {tube.display_id} is listed more than once: list each tube once."
            )
        seen.add(tube.sample_id)
    if not tubes and spec.status != "open":
        raise LabelError(
            f"A manifest with status {spec.status!r} must list at least one tube: add the "
            "shipment's tubes (only an open manifest, printed while packing, may be empty)."
        )


# ------------------------------------------------------------------------- layout

PAGE_WIDTH, PAGE_HEIGHT = letter
MARGIN = 36  # 0.5 in: inside every office printer's unprintable border
HEADER_HEIGHT = 78
FOOTER_HEIGHT = 14
_FRAME_PADDING = 6  # platypus' default Frame padding, which SimpleDocTemplate keeps
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
BOLD = "Helvetica-Bold"
REGULAR = "Helvetica"
RULE = colors.Color(0.35, 0.35, 0.35)
STRIPE = colors.Color(0.93, 0.93, 0.93)

_STYLES = {
    "body": ParagraphStyle("body", fontName=REGULAR, fontSize=9.5, leading=12),
    "label": ParagraphStyle("label", fontName=BOLD, fontSize=8, leading=10),
    "heading": ParagraphStyle(
        "heading", fontName=BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4
    ),
    "party": ParagraphStyle("party", fontName=BOLD, fontSize=12, leading=15),
    "banner": ParagraphStyle("banner", fontName=BOLD, fontSize=16, leading=19),
    "marking": ParagraphStyle("marking", fontName=BOLD, fontSize=11, leading=14),
}


def _para(text: str, style: str = "body") -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), _STYLES[style])


def _header(spec: ManifestSpec, canvas: Canvas, _doc: object) -> None:
    """Title, manifest number (large and as Code 128) and route, on every page."""
    left, right, top = MARGIN, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - MARGIN
    canvas.saveState()
    barcode_left = draw_barcode(canvas, spec.manifest_number, right, top - 36)
    canvas.setFont(BOLD, 13)
    canvas.drawString(left, top - 12, "Shipment manifest")
    # Large number, shrunk (never grown) to stay clear of the barcode's quiet zone.
    room = barcode_left - left - 6
    size = min(26.0, 26 * room / stringWidth(spec.manifest_number, BOLD, 26))
    canvas.setFont(BOLD, size)
    canvas.drawString(left, top - 40, spec.manifest_number)
    count = len(spec.tubes)
    route = (
        f"From {spec.origin.code} to {spec.destination.code} · "
        f"{_TEMPERATURE_TEXT[spec.temperature]} · {count} tube{'' if count == 1 else 's'}"
    )
    status = f"Status: {_STATUS_TEXT[spec.status]}"
    room = CONTENT_WIDTH - stringWidth(status, REGULAR, 9) - 12
    canvas.setFont(REGULAR, min(9.0, 9 * room / stringWidth(route, REGULAR, 9)))
    canvas.drawString(left, top - 58, route)
    canvas.setFont(REGULAR, 9)
    canvas.drawRightString(right, top - 58, status)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.8)
    canvas.line(left, top - 66, right, top - 66)
    canvas.restoreState()


def _footer(spec: ManifestSpec, canvas: Canvas, page: int, pages: int) -> None:
    canvas.saveState()
    canvas.setFont(REGULAR, 8)
    baseline = MARGIN - 4
    canvas.drawString(MARGIN, baseline, f"Printed {spec.printed_at}")
    canvas.drawCentredString(
        PAGE_WIDTH / 2, baseline, "Anonymous sample IDs only: no participant information."
    )
    canvas.drawRightString(
        PAGE_WIDTH - MARGIN, baseline, f"{spec.manifest_number} · Page {page} of {pages}"
    )
    canvas.restoreState()


def _banner(spec: ManifestSpec) -> list[Flowable]:
    if spec.status == "open":
        title = "NOT YET DISPATCHED"
        detail = (
            "Draft printed while packing: the tube list may still change. Print the manifest "
            "again when the shipment is dispatched."
        )
    elif spec.status == "cancelled":
        title = "CANCELLED"
        detail = "This shipment was cancelled: do not ship a package with this manifest."
    else:
        return []
    table = Table([[[_para(title, "banner"), _para(detail)]]], colWidths=[CONTENT_WIDTH])
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 2, colors.black),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return [table, Spacer(1, 8)]


def _party_cell(heading: str, party: ManifestParty) -> list[Flowable]:
    cell = [_para(heading, "label"), _para(party.code, "party"), _para(party.name)]
    if party.address:
        cell.append(_para(party.address))
    if party.phone:
        cell.append(_para(f"Phone: {party.phone}"))
    return cell


def _parties(spec: ManifestSpec) -> Table:
    half = CONTENT_WIDTH / 2
    table = Table(
        [[_party_cell("FROM", spec.origin), _party_cell("TO", spec.destination)]],
        colWidths=[half, half],
    )
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.8, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return table


def _details(spec: ManifestSpec, width: float) -> Table:
    dispatched = spec.status != "open"
    rows = [
        ("Temperature", _TEMPERATURE_TEXT[spec.temperature]),
        ("Carrier", spec.carrier or NONE_TEXT),
        ("Tracking number", spec.tracking_number or (NONE_TEXT if dispatched else NOT_DISPATCHED)),
        ("Dispatched at", spec.dispatched_at or NOT_DISPATCHED),
        ("Dispatched by", spec.dispatched_by or NONE_TEXT),
        ("Status", _STATUS_TEXT[spec.status]),
        ("Tubes", str(len(spec.tubes))),
    ]
    table = Table(
        [[_para(label, "label"), _para(value)] for label, value in rows],
        colWidths=[92, width - 92],
    )
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -2), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        )
    )
    return table


def _responsible(spec: ManifestSpec) -> list[Flowable]:
    phone = spec.responsible_phone or "______________________ (write in)"
    return [
        Spacer(1, 8),
        _para("RESPONSIBLE PERSON (IATA P650)", "label"),
        _para(spec.responsible_person, "marking"),
        _para(f"Phone: {phone}"),
    ]


def _dry_ice(spec: ManifestSpec, width: float) -> list[Flowable]:
    if spec.temperature != "frozen" or spec.dry_ice_kg is None:
        return []
    table = Table(
        [
            [_para("UN1845 Dry ice (Carbon dioxide, solid)", "marking")],
            [_para("Class 9")],
            [_para(f"Net weight of dry ice: {spec.dry_ice_kg:.1f} kg", "marking")],
        ],
        colWidths=[width],
    )
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.5, colors.black),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return [Spacer(1, 10), table]


def _shipping(spec: ManifestSpec) -> Table:
    """Details, responsible person and dry ice on the left; the UN3373 mark on the right."""
    right_width = 228
    left_width = CONTENT_WIDTH - right_width - 12
    left = [_details(spec, left_width), *_responsible(spec), *_dry_ice(spec, left_width)]
    right = [un3373_diamond(), Spacer(1, 4), _para("BIOLOGICAL SUBSTANCE, CATEGORY B", "marking")]
    table = Table([[left, "", right]], colWidths=[left_width, 12, right_width])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (2, 0), (2, 0), "CENTER"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


_TUBE_COLUMNS = (40, 150, 120, 120, CONTENT_WIDTH - 430)


def _tube_table(spec: ManifestSpec) -> Flowable:
    if not spec.tubes:
        return _para("No tubes packed yet.")
    heading = ["#", "Sample ID", "Tube code", "Collected", TickHeading("Received")]
    rows = [
        [str(number), tube.display_id, tube.tube_code, tube.display_date, CheckBox()]
        for number, tube in enumerate(spec.tubes, start=1)
    ]
    table = Table([heading, *rows], colWidths=_TUBE_COLUMNS, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), BOLD, 9),
                ("FONT", (0, 1), (-1, -1), REGULAR, 10),
                ("FONT", (1, 1), (1, -1), BOLD, 10),
                ("ALIGN", (0, 0), (0, -1), "RIGHT"),
                ("ALIGN", (4, 0), (4, -1), "CENTER"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [None, STRIPE]),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ("RIGHTPADDING", (0, 0), (0, -1), 10),
            ]
        )
    )
    return table


def _totals(spec: ManifestSpec) -> Flowable:
    rows = [["Tube code", "Tubes"], *([code, str(n)] for code, n in spec.tube_totals())]
    rows.append(["Total tubes", str(len(spec.tubes))])
    table = Table(rows, colWidths=[120, 60], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), REGULAR, 10),
                ("FONT", (0, 0), (-1, 0), BOLD, 9),
                ("FONT", (0, -1), (-1, -1), BOLD, 10),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 1, colors.black),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        )
    )
    return KeepTogether([_para("Totals", "heading"), table])


def _signatures() -> Flowable:
    half = (CONTENT_WIDTH - 24) / 2
    blank = ""
    rows = [
        [
            _para("Packed by (name, signature, date/time)", "label"),
            blank,
            _para("Received by (name, signature, date/time)", "label"),
        ],
        [blank, blank, blank],
        [blank, blank, blank],
        [
            _para("Package condition on arrival", "label"),
            blank,
            _para("Temperature on arrival (°C)", "label"),
        ],
        [blank, blank, blank],
    ]
    table = Table(rows, colWidths=[half, 24, half], rowHeights=[14, 24, 24, 18, 24], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 1), (0, 2), 0.8, colors.black),
                ("LINEBELOW", (2, 1), (2, 2), 0.8, colors.black),
                ("LINEBELOW", (0, 4), (0, 4), 0.8, colors.black),
                ("LINEBELOW", (2, 4), (2, 4), 0.8, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return KeepTogether([_para("Chain of custody", "heading"), table])


def _story(spec: ManifestSpec) -> list[Flowable]:
    count = len(spec.tubes)
    return [
        *_banner(spec),
        _parties(spec),
        Spacer(1, 10),
        _shipping(spec),
        _para(f"Tubes ({count})", "heading"),
        _tube_table(spec),
        _totals(spec),
        Spacer(1, 6),
        _signatures(),
    ]


def render_manifest(spec: ManifestSpec) -> bytes:
    """The manifest as a US-letter PDF, as many pages as the tube list needs."""
    if not isinstance(spec, ManifestSpec):
        raise LabelError(f"render_manifest needs a ManifestSpec, not {type(spec).__name__}.")
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        # The frame pads its content by 6 pt on every side; take that out of the margins
        # so tables line up with the header drawn straight on the page.
        leftMargin=MARGIN - _FRAME_PADDING,
        rightMargin=MARGIN - _FRAME_PADDING,
        topMargin=MARGIN + HEADER_HEIGHT - _FRAME_PADDING,
        bottomMargin=MARGIN + FOOTER_HEIGHT - _FRAME_PADDING,
        title=f"Shipment manifest {spec.manifest_number}",
        subject=f"{spec.origin.code} to {spec.destination.code}",
        creator="biobank labels",
        author="",
        invariant=True,
        pageCompression=1,  # Flate, whatever reportlab's process-wide default says
    )
    header = partial(_header, spec)
    document.build(
        _story(spec),
        onFirstPage=header,
        onLaterPages=header,
        canvasmaker=partial(PageCountingCanvas, footer=partial(_footer, spec)),
    )
    return buffer.getvalue()
