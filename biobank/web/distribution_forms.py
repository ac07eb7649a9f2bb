"""Forms of the distribution pages: a study's protocol, a request under it, and the acts on a
request (approve, release, cancel).

Like the shipping forms they only carry what was typed: every rule and every message about
one (an approval that has expired, a specimen the protocol may not receive, a sample ID with a
wrong check character…) comes from ``services.distribution`` so the pages and the API cannot
disagree. Numbers and days are text fields for that reason: the service's sentence about a bad
one is the one shown beside the field.
"""

from __future__ import annotations

from wtforms import (
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from biobank.models import DistributionProtocol, Site, Specimen
from biobank.services.core import ids
from biobank.web.collection_forms import SCAN_FIELD, ReasonForm
from biobank.web.forms import PageForm
from biobank.web.shipping_forms import DECIMAL_FIELD, SUBMITTING_SCAN_FIELD

NUMBER_FIELD = {"inputmode": "numeric", "autocomplete": "off"}
DAY_FIELD = {"type": "date", "autocomplete": "off"}


def specimen_name(kind: Specimen | str) -> str:
    """``whole_blood`` as people say it: "whole blood"."""
    return str(kind).replace("_", " ")


def _whole_number(text: str | None) -> int | str:
    """A typed whole number as an int; anything else as typed, for the service to refuse."""
    value = (text or "").strip()
    return int(value) if value.isdigit() else value


class ProtocolForm(PageForm):
    title = StringField("Study title", render_kw={"autocomplete": "off", "maxlength": 200})
    approval_number = StringField(
        "Approval (IRB / ethics) number",
        render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 64},
    )
    approval_expires_on = StringField("Approval expires on", render_kw=DAY_FIELD)
    institution = StringField(
        "Receiving institution", render_kw={"autocomplete": "off", "maxlength": 200}
    )
    institution_address = TextAreaField(
        "Shipping address of the institution", render_kw={"rows": 3}
    )
    responsible_person = StringField(
        "Researcher responsible for the material",
        render_kw={"autocomplete": "off", "maxlength": 200},
    )
    specimens = SelectMultipleField(
        "Specimen kinds the study may receive",
        validate_choice=False,  # the service names a kind it does not know
        choices=[SelectChoice(kind.value, specimen_name(kind)) for kind in Specimen],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    site = SelectField("Supplying biobank", validate_choice=False)

    def offer_biobanks(self, biobanks: list[Site], own: Site) -> ProtocolForm:
        self.site.choices = [
            SelectChoice(site.code, f"{site.code} · {site.name}") for site in biobanks
        ]
        if not self.site.data and any(site.id == own.id for site in biobanks):
            self.site.data = own.code
        return self

    def values(self) -> dict:
        return {
            "title": self.title.data or "",
            "approval_number": self.approval_number.data or "",
            "approval_expires_on": self.approval_expires_on.data or "",
            "institution": self.institution.data or "",
            "institution_address": self.institution_address.data or "",
            "responsible_person": self.responsible_person.data or "",
            "specimens": list(self.specimens.data or []),
            "site": self.site.data or None,
        }


class RequestForm(PageForm):
    """What a study asked for under one protocol."""

    specimen = RadioField("Specimen kind", validate_choice=False)
    participants_wanted = StringField("Number of participants", render_kw=NUMBER_FIELD)
    tubes_per_participant = StringField(
        "Tubes per participant", default="1", render_kw=NUMBER_FIELD
    )
    min_volume_ml = StringField(
        "Minimum volume per tube (mL)", default="0", render_kw=DECIMAL_FIELD
    )
    max_freeze_thaw = StringField(
        "At most this many freeze–thaw cycles", default="1", render_kw=NUMBER_FIELD
    )
    collected_from = StringField("Collected from", render_kw=DAY_FIELD)
    collected_to = StringField("Collected to (included)", render_kw=DAY_FIELD)
    sample_ids = TextAreaField(
        "Sample IDs the study named (optional)",
        render_kw={"rows": 4, "spellcheck": "false", "autocapitalize": "characters"},
    )
    notes = TextAreaField("Notes (optional)", render_kw={"rows": 2})

    def offer_specimens(self, protocol: DistributionProtocol) -> RequestForm:
        self.specimen.choices = [
            SelectChoice(kind.value, specimen_name(kind)) for kind in protocol.specimens
        ]
        # One kind is the usual case: nothing to choose.
        if len(protocol.specimens) == 1 and not self.specimen.data:
            self.specimen.data = protocol.specimens[0].value
        return self

    def listed_sample_ids(self) -> list[str] | None:
        """One ID a line (commas and semicolons also part them); none → the system chooses."""
        text = (self.sample_ids.data or "").replace(",", "\n").replace(";", "\n")
        listed = [line.strip() for line in text.splitlines() if line.strip()]
        return listed or None

    def values(self) -> dict:
        return {
            "specimen": self.specimen.data or "",
            "participants_wanted": _whole_number(self.participants_wanted.data),
            "tubes_per_participant": _whole_number(self.tubes_per_participant.data),
            "min_volume_ml": (self.min_volume_ml.data or "").strip(),
            "max_freeze_thaw": _whole_number(self.max_freeze_thaw.data),
            "collected_from": self.collected_from.data or "",
            "collected_to": self.collected_to.data or "",
            "sample_ids": self.listed_sample_ids(),
            "notes": self.notes.data or None,
        }


class ApproveForm(PageForm):
    """The tubes the coordinator saw proposed, to reserve exactly those."""

    sample_ids = HiddenField()

    def chosen(self) -> list[str] | None:
        listed = (self.sample_ids.data or "").split()
        return listed or None

    @classmethod
    def of(cls, barcodes: list[str]) -> ApproveForm:
        return cls(formdata=None, sample_ids=" ".join(barcodes))


class CloseProtocolForm(ReasonForm):
    pass


class ReleaseForm(ReasonForm):
    pass


class CancelRequestForm(ReasonForm):
    pass


class CancelShipmentForm(ReasonForm):
    pass


def shown_ids(barcodes: list[str]) -> str:
    """Sample IDs as people read them, comma-separated."""
    return ", ".join(ids.display(barcode) for barcode in barcodes)


class PickForm(PageForm):
    """A tube scanned as it is taken out of its freezer, and optionally the volume to
    aliquot from it for the study."""

    barcode = StringField("Scan the tube you take out", render_kw=SUBMITTING_SCAN_FIELD)
    aliquot_ml = StringField("Aliquot for the study (mL, optional)", render_kw=DECIMAL_FIELD)

    def aliquot(self) -> str | None:
        return (self.aliquot_ml.data or "").strip() or None


class OutboundPackForm(PageForm):
    barcode = StringField("Scan a picked tube into the box", render_kw=SUBMITTING_SCAN_FIELD)


class ReturnForm(PageForm):
    """A tube the study sent back unused."""

    barcode = StringField("Scan the returned tube", render_kw=SCAN_FIELD)
    reason = StringField(
        "Why it came back", default="unused", render_kw={"autocomplete": "off", "maxlength": 200}
    )
