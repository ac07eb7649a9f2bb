"""Forms of the freezer-storage and sample pages.

They only parse what was posted into plain values for ``services.storage`` (the tree,
placing, rack imports, a tube's lifecycle) and ``services.collecting.labelling``; every rule,
and every message about one (names, temperatures, grid sizes, specimens, positions, reasons,
volumes), comes from those services so these pages and the API cannot disagree.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from biobank.models import ContainerKind, Sample, Specimen
from biobank.web.collection_forms import (
    SCAN_FIELD,
    PrintLabelsForm,
    ReasonForm,
    SignedReasonForm,
)
from biobank.web.forms import PageForm

# Box sizes on the shelf in most biobanks: 81- and 100-place cryoboxes, 96-well racks.
BOX_PRESETS = {"9x9": (9, 9), "10x10": (10, 10), "8x12": (8, 12)}
CUSTOM_SIZE = "custom"
# Kept in a hidden field between the preview and "Apply" so the file is not uploaded twice.
# A real rack file is a few kilobytes (2,600 wells at most); its base64 must stay well under
# Werkzeug's 500 kB in-memory form limit. A larger file is chosen again for the apply.
RACK_FILE_KEEP_LIMIT = 256 * 1024
POSITION_FIELD = {
    "autocomplete": "off",
    "autocapitalize": "characters",
    "spellcheck": "false",
    "size": 4,
}


def _int_or_none(value: str | int | None) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def _text(value: str | None) -> str:
    return (value or "").strip()


# --- finding things by scanning ------------------------------------------------------------


class ScanLookupForm(FlaskForm):
    """A GET form with one scan field: looking something up changes nothing, so no CSRF."""

    class Meta:
        csrf = False

    barcode = StringField("Barcode", render_kw={**SCAN_FIELD, "data-scan-submit": True})

    @classmethod
    def labelled(cls, label: str, args) -> ScanLookupForm:
        form = cls(args)
        form.barcode.label.text = label
        return form

    @property
    def scanned(self) -> str:
        return _text(self.barcode.data)


# --- the storage tree ------------------------------------------------------------------------


class FreezerForm(PageForm):
    name = StringField("Name", render_kw={"autocomplete": "off"})
    # Text, not a number field: the service reads it and says what a set temperature may be.
    temperature_c = StringField(
        "Set temperature (°C)", default="-80", render_kw={"inputmode": "decimal"}
    )
    # Offered to those who manage every site (admins); others add freezers at their own site.
    site = SelectField("Site", validate_choice=False)

    def offer_sites(self, site_codes: list[str] | None) -> None:
        if site_codes is None:
            del self.site
        else:
            self.site.choices = [SelectChoice(code, code) for code in site_codes]


class ContainerForm(PageForm):
    """A shelf, rack or box inside one freezer's tree."""

    parent = SelectField("Put it in", coerce=_int_or_none, validate_choice=False)
    # The service decides which kind may go where and what a box needs.
    kind = RadioField(
        "Kind",
        default=ContainerKind.BOX.value,
        validate_choice=False,
        choices=[
            SelectChoice(ContainerKind.SHELF.value, "Shelf"),
            SelectChoice(ContainerKind.RACK.value, "Rack"),
            SelectChoice(ContainerKind.BOX.value, "Box"),
        ],
    )
    name = StringField("Name", render_kw={"autocomplete": "off"})
    size = RadioField(
        "Box size",
        default="9x9",
        validate_choice=False,
        choices=[
            SelectChoice("9x9", "9 x 9 (81)"),
            SelectChoice("10x10", "10 x 10 (100)"),
            SelectChoice("8x12", "8 x 12 (96)"),
            SelectChoice(CUSTOM_SIZE, "Other size"),
        ],
    )
    rows = IntegerField("Rows (A…)", validators=[Optional()], render_kw={"min": 1, "max": 26})
    cols = IntegerField("Columns (1…)", validators=[Optional()], render_kw={"min": 1, "max": 99})
    allowed_specimens = SelectMultipleField(
        "Only these specimens (none ticked: any)",
        validate_choice=False,
        choices=[SelectChoice(s.value, s.value.replace("_", " ")) for s in Specimen],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def offer_parents(self, parents: list[tuple[int, str]]) -> None:
        self.parent.choices = [SelectChoice(id_, label) for id_, label in parents]

    def validate_parent(self, field: SelectField) -> None:
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError("Choose the freezer, shelf or rack to put it in.")

    def validate_size(self, field: RadioField) -> None:
        if self.kind.data == ContainerKind.BOX and field.data not in (*BOX_PRESETS, CUSTOM_SIZE):
            raise ValidationError("Choose a box size.")

    @property
    def grid(self) -> tuple[int | None, int | None]:
        """Rows and columns for a box (a preset or the typed size); none for shelves, racks."""
        if self.kind.data != ContainerKind.BOX:
            return None, None
        return BOX_PRESETS.get(self.size.data) or (self.rows.data, self.cols.data)

    def show_refusal(self, refused) -> bool:
        # The service names rows/cols; with a preset chosen they are not on screen: show its
        # message beside the size choice instead.
        if refused.errors and self.size.data in BOX_PRESETS:
            moved = {**refused.errors}
            for name in ("rows", "cols"):
                if name in moved:
                    moved.setdefault("size", []).extend(moved.pop(name))
            refused.errors = moved
        return super().show_refusal(refused)


class RenameForm(PageForm):
    name = StringField("New name", render_kw={"autocomplete": "off"})


class ConfirmForm(PageForm):
    """Only the CSRF token: the action happens when the button is pressed."""


# --- storing into a box ----------------------------------------------------------------------


class StoreForm(PageForm):
    position = StringField("Position", render_kw=POSITION_FIELD)
    barcode = StringField("Scan a tube", render_kw={**SCAN_FIELD, "data-scan-submit": True})


class RackScanForm(PageForm):
    file = FileField("Rack-scanner file (CSV)", render_kw={"accept": ".csv,.txt,text/csv"})

    def validate_file(self, field: FileField) -> None:
        if not field.data:
            raise ValidationError("Choose the rack-scanner file (CSV) to upload.")

    def content(self) -> bytes:
        return self.file.data.read()


class RackApplyForm(PageForm):
    """The previewed file's bytes, kept in the page; or, when too large to keep, the file again."""

    # What to say when neither the kept bytes nor a file came back.
    UPLOAD_AGAIN = "Upload the rack-scanner file again: nothing was stored."

    kept = HiddenField()
    filename = HiddenField()
    file = FileField("Choose the same file again", render_kw={"accept": ".csv,.txt,text/csv"})

    @classmethod
    def keeping(cls, data: bytes, filename: str) -> RackApplyForm:
        kept = base64.b64encode(data).decode("ascii") if len(data) <= RACK_FILE_KEEP_LIMIT else ""
        return cls(formdata=None, kept=kept, filename=filename)

    @property
    def needs_file(self) -> bool:
        return not self.kept.data

    def validate_kept(self, field: HiddenField) -> None:
        if not field.data and not self.file.data:
            raise ValidationError(self.UPLOAD_AGAIN)
        if field.data:
            try:
                base64.b64decode(field.data, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError(
                    "The kept file was damaged on the way: upload it again; nothing was stored."
                ) from None

    def content(self) -> bytes:
        if self.kept.data:
            return base64.b64decode(self.kept.data)
        return self.file.data.read()


# --- one sample ------------------------------------------------------------------------------


class FindTubeForm(ScanLookupForm):
    barcode = StringField("Tube ID", render_kw={**SCAN_FIELD, "data-scan-submit": True})


class BoxPositionForm(PageForm):
    """Where a tube goes: a box picked from the list or scanned, and a position (or the first
    free one). ``box`` is the scanned barcode, so the service's messages about it land there."""

    box_id = SelectField("Box", coerce=_int_or_none, validate_choice=False)
    box = StringField("Or scan the box's barcode", render_kw=SCAN_FIELD)
    position = StringField("Position", render_kw=POSITION_FIELD)

    def offer_boxes(self, boxes: list[tuple[int, str]]) -> None:
        """Boxes as (id, "Freezer 1 › Shelf 1 › Box 3"), after an empty choice."""
        self.box_id.choices = [SelectChoice("", "Choose a box…")] + [
            SelectChoice(id_, label) for id_, label in boxes
        ]

    def validate_box_id(self, field: SelectField) -> None:
        if field.data is None and not _text(self.box.data):
            raise ValidationError("Choose a box, or scan its barcode.")

    @property
    def scanned_box(self) -> str:
        return _text(self.box.data)


class MoveForm(BoxPositionForm):
    """Where the tube goes, and (hidden) where the page showed it: a page gone stale (someone
    moved the tube meanwhile, or the button was clicked twice) is refused, not obeyed."""

    from_box = HiddenField()
    from_position = HiddenField()

    def show_place(self, sample: Sample) -> None:
        here = sample.position if sample.position and sample.position.sample_id else None
        self.from_box.data = str(here.box_id) if here else ""
        self.from_position.data = here.label if here else ""

    @property
    def moving_from(self) -> dict[str, object] | None:
        """The place the page showed, or None (an old page without it: moved from anywhere)."""
        box, position = _text(self.from_box.data), _text(self.from_position.data)
        if not box or not position:
            return None
        return {"box": int(box) if box.isdigit() else box, "position": position}


class ThawForm(ConfirmForm):
    """The freeze–thaw count the page showed (hidden): a second click records no second cycle."""

    cycles_seen = HiddenField()

    def show_count(self, sample: Sample) -> None:
        self.cycles_seen.data = str(sample.freeze_thaw_count)

    @property
    def count_seen(self) -> int | str | None:
        text = _text(self.cycles_seen.data)
        if not text:
            return None
        return int(text) if text.isdigit() else text


class CheckOutForm(PageForm):
    reason = TextAreaField("Why (optional)", render_kw={"rows": 2})


class AliquotForm(PageForm):
    count = IntegerField(
        "Number of aliquots",
        default=2,
        validators=[Optional()],
        render_kw={"min": 1, "inputmode": "numeric"},
    )
    # Text: the service reads the volume and says what it may be.
    volume_ml = StringField("Volume of each (mL)", render_kw={"inputmode": "decimal"})


class AliquotLabelsForm(PrintLabelsForm):
    barcodes = SelectMultipleField(
        "Tubes",
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def offer_tubes(self, samples: list[Sample]) -> None:
        self.barcodes.choices = [
            SelectChoice(s.barcode, f"{s.tube_type.code} {s.display_barcode}") for s in samples
        ]

    def validate_barcodes(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError("Tick the tubes to print labels for.")


@dataclass
class SamplePageForms:
    """Every form of a sample page, blank; a view swaps in the one that was posted."""

    store: BoxPositionForm
    move: MoveForm
    check_out: CheckOutForm
    check_in: ConfirmForm
    thaw: ThawForm
    aliquot: AliquotForm
    labels: AliquotLabelsForm
    quarantine: ReasonForm
    release: ReasonForm
    withdraw: ReasonForm
    dispose: SignedReasonForm

    @classmethod
    def blank(
        cls,
        sample: Sample,
        boxes: list[tuple[int, str]],
        new_aliquots: list[str],
    ) -> SamplePageForms:
        # formdata=None: on a re-rendered POST, only the posted form keeps what was typed.
        current_box = sample.position.box_id if sample.position else None
        store = BoxPositionForm(formdata=None)
        move = MoveForm(formdata=None, box_id=current_box)
        move.show_place(sample)
        thaw = ThawForm(formdata=None)
        thaw.show_count(sample)
        for form in (store, move):
            form.offer_boxes(boxes)
        children = list(sample.children)
        fresh = [b for b in new_aliquots if b in {c.barcode for c in children}]
        labels = AliquotLabelsForm(formdata=None, barcodes=fresh or [c.barcode for c in children])
        labels.offer_tubes(children)
        return cls(
            store=store,
            move=move,
            check_out=CheckOutForm(formdata=None),
            check_in=ConfirmForm(formdata=None),
            thaw=thaw,
            aliquot=AliquotForm(formdata=None),
            labels=labels,
            quarantine=ReasonForm(formdata=None),
            release=ReasonForm(formdata=None),
            withdraw=ReasonForm(formdata=None),
            dispose=SignedReasonForm(formdata=None),
        )

    def keep(self, name: str, posted: PageForm) -> SamplePageForms:
        """Put the posted form (what was typed, its errors) in place of the blank one."""
        blank = getattr(self, name)
        if isinstance(posted, BoxPositionForm):
            posted.box_id.choices = blank.box_id.choices
        if isinstance(posted, AliquotLabelsForm):
            posted.barcodes.choices = blank.barcodes.choices
        # What the page shows now, not what the refused post saw: resubmitting is then a
        # decision made on the fresh page.
        if isinstance(posted, MoveForm):
            posted.from_box.data, posted.from_position.data = (
                blank.from_box.data,
                blank.from_position.data,
            )
        if isinstance(posted, ThawForm):
            posted.cycles_seen.data = blank.cycles_seen.data
        setattr(self, name, posted)
        return self


# --- the forms of one page -------------------------------------------------------------------


@dataclass
class FreezerPageForms:
    """The freezer page's forms: add a shelf, rack or box; rename or deactivate a node."""

    add: ContainerForm
    rename: dict[int, RenameForm]
    deactivate: dict[int, ConfirmForm]

    @classmethod
    def blank(cls, parents: list[tuple[int, str]], nodes: list[int]) -> FreezerPageForms:
        add = ContainerForm(formdata=None, parent=parents[0][0] if parents else None)
        add.offer_parents(parents)
        return cls(
            add=add,
            rename={node: RenameForm(formdata=None) for node in nodes},
            deactivate={node: ConfirmForm(formdata=None) for node in nodes},
        )

    def keep(self, name: str, posted: PageForm, node: int | None = None) -> FreezerPageForms:
        if node is None:
            if isinstance(posted, ContainerForm):
                posted.parent.choices = self.add.parent.choices
            setattr(self, name, posted)
        else:
            getattr(self, name)[node] = posted
        return self


@dataclass
class BoxPageForms:
    """The box page's forms; the store form starts at the position the next scan fills."""

    store: StoreForm
    rack: RackScanForm
    apply: RackApplyForm | None
    rename: RenameForm
    deactivate: ConfirmForm

    @classmethod
    def blank(cls, next_free: str | None) -> BoxPageForms:
        return cls(
            store=StoreForm(formdata=None, position=next_free or ""),
            rack=RackScanForm(formdata=None),
            apply=None,
            rename=RenameForm(formdata=None),
            deactivate=ConfirmForm(formdata=None),
        )

    def keep(self, name: str, posted: PageForm | None) -> BoxPageForms:
        setattr(self, name, posted)
        return self
