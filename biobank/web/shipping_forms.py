"""Forms of the shipping, receiving and report pages.

Like the collection forms, they only parse what was posted into plain values: which carrier,
which condition, what was scanned. Every rule, and every message about one (a FedEx tracking
number has 12 to 14 digits, a frozen box needs its dry ice weight…), comes from
``services.shipping.sending``, ``services.shipping.receiving`` and
``services.reporting.reports`` so the pages and the API cannot disagree. That is why the
fields carry no validators beyond the CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from biobank.models import PackageCondition, Site, TemperatureClass
from biobank.services.shipping.sending import CARRIERS, carrier_name
from biobank.web.collection_forms import SCAN_FIELD, SignedForm
from biobank.web.forms import ListedChoiceField, PageForm

DECIMAL_FIELD = {"inputmode": "decimal", "autocomplete": "off"}
# A scan field whose Enter sends the scan at once (scan.js), rather than moving to a next field.
SUBMITTING_SCAN_FIELD = {**SCAN_FIELD, "data-scan-submit": True}

TEMPERATURE_CHOICES = [
    SelectChoice(TemperatureClass.AMBIENT.value, "Ambient (room temperature)"),
    SelectChoice(TemperatureClass.REFRIGERATED.value, "Refrigerated (2–8 °C, cold packs)"),
    SelectChoice(TemperatureClass.FROZEN.value, "Frozen (on dry ice, UN1845)"),
]
CONDITION_CHOICES = [
    SelectChoice(PackageCondition.GOOD.value, "Good"),
    SelectChoice(PackageCondition.DAMAGED.value, "Box damaged"),
    SelectChoice(PackageCondition.LEAKING.value, "Leaking"),
    SelectChoice(PackageCondition.WARM.value, "Arrived warm"),
    SelectChoice(PackageCondition.DRY_ICE_GONE.value, "Dry ice gone"),
]


# --- shipments (clinic) ---------------------------------------------------------------------


class NewShipmentForm(PageForm):
    # The service checks that the destination is a biobank and the temperature a class.
    destination = RadioField("Destination biobank", validate_choice=False)
    temperature = RadioField(
        "Temperature",
        choices=TEMPERATURE_CHOICES,
        default=TemperatureClass.REFRIGERATED.value,
        validate_choice=False,
    )

    def offer_biobanks(self, biobanks: list[Site]) -> None:
        self.destination.choices = [
            SelectChoice(site.code, f"{site.name} ({site.code})") for site in biobanks
        ]
        # One biobank is the usual case: nothing to choose.
        if len(biobanks) == 1 and not self.destination.data:
            self.destination.data = biobanks[0].code


class PackForm(PageForm):
    barcode = StringField("Scan a tube", render_kw=SUBMITTING_SCAN_FIELD)


class UnpackForm(PageForm):
    """Only the CSRF token: the tube is in the address."""


class DispatchForm(SignedForm):
    carrier = SelectField(
        "Carrier",
        choices=[SelectChoice("", "Choose…")]
        + [SelectChoice(code, carrier_name(code) or code) for code in CARRIERS],
        validate_choice=False,
    )
    tracking_number = StringField(
        "Tracking number", render_kw={"autocomplete": "off", "spellcheck": "false"}
    )
    # Text, not a number field: the service's sentence about a bad weight is the one to show.
    dry_ice_kg = StringField("Dry ice (kg)", render_kw=DECIMAL_FIELD)


class CancelShipmentForm(PageForm):
    reason = TextAreaField("Reason", render_kw={"rows": 2})


@dataclass
class ShipmentPageForms:
    """Every form of a packing page, blank; a view swaps in the one that was posted."""

    pack: PackForm
    dispatch: DispatchForm
    cancel: CancelShipmentForm

    @classmethod
    def blank(cls) -> ShipmentPageForms:
        # formdata=None: on a re-rendered POST, only the posted form keeps what was typed.
        return cls(
            pack=PackForm(formdata=None),
            dispatch=DispatchForm(formdata=None),
            cancel=CancelShipmentForm(formdata=None),
        )

    def keep(self, name: str, posted: PageForm) -> ShipmentPageForms:
        setattr(self, name, posted)
        return self


# --- receiving (biobank) --------------------------------------------------------------------


class ManifestScanForm(PageForm):
    manifest_number = StringField("Scan the manifest barcode", render_kw=SUBMITTING_SCAN_FIELD)


class ScanCorrectionForm(PageForm):
    """A tube already scanned in: undo its scan (made in error), or set it aside."""

    barcode = StringField("Tube barcode", render_kw=SCAN_FIELD)
    reason = TextAreaField("Reason", render_kw={"rows": 2})


class CloseReceiptForm(SignedForm):
    # No default: the technician looks at the box and says what they see.
    condition = RadioField(
        "Condition of the package", choices=CONDITION_CHOICES, validate_choice=False
    )
    temperature_c = StringField("Temperature on arrival (°C)", render_kw=DECIMAL_FIELD)
    notes = TextAreaField("Notes (optional)", render_kw={"rows": 2})


# --- reports (coordinators) -----------------------------------------------------------------


class ReportFilterForm(FlaskForm):
    """Filters read from the query string: nothing is written, so no CSRF token."""

    class Meta:
        csrf = False

    # Absent from the query string means no filter ("").
    site = ListedChoiceField(
        "Site", default="", unlisted="No site has that code: choose one from the list."
    )
    state = ListedChoiceField(
        "State",
        default="",
        unlisted="Choose overdue, missing, or both.",
        choices=[
            SelectChoice("", "Overdue and missing"),
            SelectChoice("overdue", "Overdue only"),
            SelectChoice("missing", "Missing only"),
        ],
    )

    def offer_sites(self, sites: list[Site]) -> None:
        self.site.choices = [SelectChoice("", "All sites")] + [
            SelectChoice(site.code, f"{site.code} · {site.name}") for site in sites
        ]

    def chosen_site(self, sites: list[Site]) -> Site | None:
        return next((site for site in sites if site.code == self.site.data), None)
