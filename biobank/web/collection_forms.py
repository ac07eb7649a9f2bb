"""Forms of the clinic collection pages.

They only parse what was posted (text, a choice, a site-local time) into plain values for
``services.collecting.collections`` and ``services.collecting.labelling``; every rule, and
every message about one, comes from those services so the pages and the API cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from wtforms import (
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

import labels
from biobank.db import utcnow
from biobank.errors import ValidationFailed
from biobank.models import Centrifuge, Collection, KitTemplate, Sample, Site
from biobank.services.collecting.collections import TubeCorrection
from biobank.services.core.timebounds import in_zone
from biobank.web.forms import PageForm

# <input type="datetime-local"> posts minutes ("2025-01-15T08:30"), or seconds when its step
# is below a minute; the first format is also the one the field renders.
LOCAL_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
SCAN_FIELD = {
    "data-scan": True,
    "autocomplete": "off",
    "autocapitalize": "characters",
    "spellcheck": "false",
}


# --- site-local time ------------------------------------------------------------------------


def site_zone(site: Site) -> ZoneInfo:
    return ZoneInfo(site.timezone)


def _wall_clock(moment: datetime, site: Site) -> datetime:
    return in_zone(moment, site_zone(site)).replace(tzinfo=None, second=0, microsecond=0)


def to_site_local(moment: datetime | None, site: Site) -> datetime | None:
    """An aware time as the naive, to-the-minute wall-clock time a datetime-local input shows."""
    return None if moment is None else _wall_clock(moment, site)


def site_now(site: Site) -> datetime:
    return _wall_clock(utcnow(), site)


def from_site_local(wall_clock: datetime | None, site: Site) -> datetime | None:
    """A posted wall-clock time read in the site's zone, as the aware time services want."""
    if wall_clock is None:
        return None
    return wall_clock.replace(tzinfo=site_zone(site))


def posted_time(wall_clock: datetime | None, site: Site, field: str) -> datetime:
    """A required time as posted (its form refuses an empty one), in the site's zone."""
    when = from_site_local(wall_clock, site)
    if when is None:
        raise ValidationFailed.for_field(field, "Give the time, e.g. 2026-03-01 09:30.")
    return when


def local_time_field(label: str, *validators) -> DateTimeLocalField:
    return DateTimeLocalField(label, format=LOCAL_TIME_FORMATS, validators=list(validators))


class NewCollectionForm(PageForm):
    participant_id = StringField("Participant ID", render_kw=SCAN_FIELD)
    # The service checks the kit (and that a claimed kit and a kit are not both given).
    kit = RadioField("Kit", validate_choice=False)
    claim_barcode = StringField(
        "Or scan any label of a pre-labelled kit",
        render_kw={**SCAN_FIELD, "data-scan-submit": True},
    )
    notes = TextAreaField("Notes (optional)", render_kw={"rows": 2})

    def offer_kits(self, kits: list[KitTemplate]) -> None:
        self.kit.choices = [SelectChoice(kit.code, kit.name) for kit in kits]


# --- per-tube times -------------------------------------------------------------------------


def _centrifuge_or_none(value: str | Centrifuge | None) -> Centrifuge | None:
    return Centrifuge(value) if value else None


CENTRIFUGE_CHOICES = [
    SelectChoice("", "Not recorded"),
    SelectChoice(Centrifuge.SWINGING_BUCKET.value, "Swinging bucket"),
    SelectChoice(Centrifuge.FIXED_ANGLE.value, "Fixed angle"),
]


class CollectedForm(PageForm):
    collected_at = local_time_field(
        "Collected at", InputRequired("Give the date and time the tube was drawn.")
    )


class ProcessedForm(PageForm):
    processed_at = local_time_field(
        "Processed at", InputRequired("Give the date and time the tube was centrifuged.")
    )
    centrifuge = SelectField("Centrifuge", coerce=_centrifuge_or_none, choices=CENTRIFUGE_CHOICES)


class AllTimesForm(PageForm):
    """One draw time (and one spin time) for every ticked tube; the unticked are exceptions,
    entered per tube."""

    collected_at = local_time_field("Drawn at", Optional())
    processed_at = local_time_field("Spun at (SST and PST tubes)", Optional())
    centrifuge = SelectField("Centrifuge", coerce=_centrifuge_or_none, choices=CENTRIFUGE_CHOICES)
    tubes = SelectMultipleField(
        "Tubes",
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,  # the service names a tube that is not in the collection
    )

    def offer_tubes(self, collection: Collection) -> AllTimesForm:
        self.tubes.choices = [
            SelectChoice(sample.barcode, f"{sample.tube_type.code} {sample.display_barcode}")
            for sample in collection.samples
        ]
        if self.tubes.data is None:  # a blank form: every tube ticked
            self.tubes.data = [sample.barcode for sample in collection.samples]
        return self


# --- labels ---------------------------------------------------------------------------------


class PrintLabelsForm(PageForm):
    # The service resolves the stock and refuses ZPL on laser sheets: no choice check here.
    stock = SelectField(
        "Label stock",
        default=labels.DEFAULT_STOCK,
        validate_choice=False,
        choices=[
            SelectChoice(code, stock.name, {"data-sheet": "true"} if stock.grid else {})
            for code, stock in labels.STOCKS.items()
        ],
    )
    start_position = IntegerField(
        "Start at label number",
        default=1,
        validators=[InputRequired("Give the label to start at (1 on a new sheet).")],
        render_kw={"min": 1, "inputmode": "numeric"},
    )
    reason = StringField("Reason for reprinting")


class NewLabelBatchForm(PageForm):
    """Pre-labelled kits for a clinic: the service checks the site, kit and count."""

    site = SelectField("Clinic", validate_choice=False)
    kit = SelectField("Kit", validate_choice=False)
    count = IntegerField(
        "Number of kits",
        default=10,
        validators=[InputRequired("Give how many kits to print, e.g. 10.")],
        render_kw={"min": 1, "inputmode": "numeric"},
    )

    def offer(self, sites: list[Site], kits: list[KitTemplate]) -> NewLabelBatchForm:
        self.site.choices = [
            SelectChoice(site.code, f"{site.code} · {site.name}") for site in sites
        ]
        self.kit.choices = [SelectChoice(kit.code, kit.name) for kit in kits]
        return self


# --- lifecycle ------------------------------------------------------------------------------


class FinalizeForm(PageForm):
    """Only the CSRF token: finalizing is at the moment the button is pressed."""


class ReasonForm(PageForm):
    reason = TextAreaField("Reason", render_kw={"rows": 2})


class SignedForm(PageForm):
    """A form whose act is signed electronically: the person re-enters their password."""

    signature_password = PasswordField(
        "Your password (electronic signature)",
        render_kw={"autocomplete": "current-password"},
    )


class SignedReasonForm(SignedForm):
    reason = TextAreaField("Reason", render_kw={"rows": 2})


class TubeCorrectionForm(Form):
    """One tube's times in the amend form, prefilled with what is recorded (site-local)."""

    barcode = HiddenField()
    collected_at = local_time_field("Collected at", Optional())
    processed_at = local_time_field("Processed at", Optional())


class AmendForm(PageForm):
    reason = TextAreaField("Reason for the amendment", render_kw={"rows": 2})
    notes = TextAreaField("Notes", render_kw={"rows": 2})
    tubes = FieldList(FormField(TubeCorrectionForm))

    @classmethod
    def for_collection(cls, collection: Collection, **kwargs) -> AmendForm:
        """Prefilled with the recorded notes and times, so a correction starts from them."""
        site = collection.site
        return cls(
            data={
                "notes": collection.notes or "",
                "tubes": [
                    {
                        "barcode": sample.barcode,
                        "collected_at": to_site_local(sample.collected_at, site),
                        "processed_at": to_site_local(sample.processed_at, site),
                    }
                    for sample in collection.samples
                ],
            },
            **kwargs,
        )

    def corrections(self, site: Site) -> list[TubeCorrection]:
        """The tube times the person changed: a prefilled time left alone is no correction
        (it is shown to the minute, the record may hold seconds)."""
        found = []
        for entry in self.tubes:
            tube = entry.form
            changed = {
                name: from_site_local(field.data, site)
                for name, field in (
                    ("collected_at", tube.collected_at),
                    ("processed_at", tube.processed_at),
                )
                if field.data is not None and field.data != field.object_data
            }
            if changed:
                found.append(TubeCorrection(tube.barcode.data, **changed))
        return found


# --- the forms of one collection page -------------------------------------------------------


@dataclass
class TubeForms:
    collected: CollectedForm
    processed: ProcessedForm | None
    reprint: PrintLabelsForm


@dataclass
class CollectionPageForms:
    """Every form of a collection page, blank; a view swaps in the one that was posted."""

    tubes: dict[str, TubeForms]
    all_times: AllTimesForm
    labels: PrintLabelsForm
    finalize: FinalizeForm
    cancel: ReasonForm
    restore: ReasonForm
    amend: AmendForm

    @classmethod
    def blank(cls, collection: Collection) -> CollectionPageForms:
        # formdata=None: on a re-rendered POST, only the posted form keeps what was typed.
        now = site_now(collection.site)

        def tube_forms(sample: Sample) -> TubeForms:
            recorded_collected = to_site_local(sample.collected_at, collection.site)
            recorded_processed = to_site_local(sample.processed_at, collection.site)
            return TubeForms(
                collected=CollectedForm(formdata=None, collected_at=recorded_collected or now),
                processed=ProcessedForm(
                    formdata=None,
                    processed_at=recorded_processed or now,
                    centrifuge=sample.centrifuge,
                )
                if sample.tube_type.requires_processing
                else None,
                reprint=PrintLabelsForm(formdata=None),
            )

        return cls(
            tubes={sample.barcode: tube_forms(sample) for sample in collection.samples},
            all_times=AllTimesForm(formdata=None, collected_at=now).offer_tubes(collection),
            labels=PrintLabelsForm(formdata=None),
            finalize=FinalizeForm(formdata=None),
            cancel=ReasonForm(formdata=None),
            restore=ReasonForm(formdata=None),
            amend=AmendForm.for_collection(collection, formdata=None),
        )

    def keep(self, name: str, posted: PageForm, barcode: str | None = None) -> CollectionPageForms:
        """Put the posted form (what was typed, its errors) in place of the blank one."""
        setattr(self.tubes[barcode] if barcode else self, name, posted)
        return self
