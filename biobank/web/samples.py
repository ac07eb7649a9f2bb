"""A tube's page: who it is (ID, tube code, status, flags), where it is (freezer › shelf › box
› position), where it came from (collection, parent, aliquots) and its chain of custody; and,
for technicians at its biobank, what can be done to it (store, move, check out / in, thaw,
aliquot and print the aliquots' labels, withdraw, dispose).

Every POST parses its form, makes one service call in one unit of work and redirects back to
the tube (POST/redirect/GET), or sends the label file. A refusal shows the page again with the
message beside its field (422) or on top (409), what was typed kept. A tube of another site is
a 404 from ``samples.get_sample``; a role that may not handle tubes gets the 403 page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank.downloads import send_print_job
from biobank.errors import ValidationFailed
from biobank.models import Container, Event, Sample, User
from biobank.security import current_actor
from biobank.services.collecting import labelling
from biobank.services.core import ids, policy, samples
from biobank.services.reporting import sprec
from biobank.services.storage import freezer_tree, lifecycle, placing
from biobank.services.storage.storage_paths import container_path, location_of
from biobank.web import local_time
from biobank.web.collection_forms import ReasonForm, SignedReasonForm
from biobank.web.forms import PageForm
from biobank.web.pages import redirect_saying, submit
from biobank.web.storage_forms import (
    AliquotForm,
    AliquotLabelsForm,
    BoxPositionForm,
    CheckOutForm,
    ConfirmForm,
    FindTubeForm,
    MoveForm,
    SamplePageForms,
    ThawForm,
)

bp = Blueprint("samples", __name__, url_prefix="/samples")


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for logged-in staff."""


# --- finding a tube ------------------------------------------------------------------------


@bp.get("/")
def index():
    """A scan field: the tube's page, from its ID however it was typed (case, hyphen, I/L/O)."""
    finder = FindTubeForm(request.args)
    if "barcode" not in request.args:
        return render_template("samples/index.html", finder=finder)
    try:
        sample = samples.get_sample(current_actor(), finder.scanned)
    except ValidationFailed as refused:
        finder.barcode.errors = list((refused.errors or {}).get("barcode", [refused.detail]))
        return render_template("samples/index.html", finder=finder), 422
    return redirect(url_for(".show", barcode=sample.barcode))


# --- what the page offers --------------------------------------------------------------------


def box_choices(actor: User, sample: Sample) -> list[tuple[int, str]]:
    """A few boxes for the tube's box picker, as (id, "Freezer 1 › Shelf 1 › Box 3")."""
    return [
        (box.id, freezer_tree.path_text(box)) for box in freezer_tree.boxes_to_offer(actor, sample)
    ]


# --- the chain of custody as people read it -------------------------------------------------

# The event details worth a line on the timeline, in this order, with their labels. Others
# (ids, hashes of the chain, label stock codes) stay in the API's full record.
DETAIL_LABELS = {
    "from": "from",
    "to": "to",
    "minutes_out_of_freezer": "minutes out of the freezer",
    "freeze_thaw_count": "freeze–thaw cycles",
    "aliquot_of": "aliquot of",
    "children": "aliquots",
    "volume_ml": "volume (mL)",
    "volume_ml_each": "each (mL)",
    "volume_ml_left": "left (mL)",
    "flag": "flag",
    "cleared": "cleared",
    "manifest_number": "manifest",
    "condition": "package",
    "temperature_c": "temperature (°C)",
    "late": "late",
    "collected_at": "collected at",
    "processed_at": "processed at",
    "source": "source",
    "tube_type": "tube",
    "copies": "labels",
}


def _shown(key: str, value: Any, event: Event) -> str:
    if key in ("children", "aliquot_of"):
        codes = value if isinstance(value, list) else [value]
        return ", ".join(ids.display(str(code)) for code in codes)
    if key.startswith("volume_ml"):
        try:
            return lifecycle.ml(Decimal(str(value)))
        except InvalidOperation:
            return str(value)
    if key.endswith("_at") and isinstance(value, str):
        try:
            return local_time(datetime.fromisoformat(value), event.site)
        except ValueError:
            return value
    if value is True:
        return "yes"
    return str(value).replace("_", " ")


def event_facts(event: Event) -> list[tuple[str, str]]:
    """The key details of an event as (label, text), e.g. ("where", "Freezer 1 › … › A1")."""
    details = event.details or {}
    facts = []
    if details.get("path") and details.get("position"):
        facts.append(("where", f"{details['path']} › {details['position']}"))
    elif isinstance(details.get("position"), str):
        facts.append(("position", details["position"]))
    for key, label in DETAIL_LABELS.items():
        value = details.get(key)
        if value not in (None, "", [], False):
            facts.append((label, _shown(key, value, event)))
    return facts


# --- one tube --------------------------------------------------------------------------------


def _visible(barcode: str) -> tuple[User, Sample]:
    actor = current_actor()
    return actor, samples.get_sample(actor, barcode)


def _blank_forms(actor: User, sample: Sample, offered: set[str]) -> SamplePageForms:
    boxes = box_choices(actor, sample) if offered & {"store", "move"} else []
    new_aliquots = [b for b in request.args.get("new", "").split(",") if b]
    return SamplePageForms.blank(sample, boxes, new_aliquots)


def _render_sample(
    actor: User,
    sample: Sample,
    keep: tuple[str, PageForm] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    offered = lifecycle.offered_actions(actor, sample)
    forms = _blank_forms(actor, sample, offered)
    if keep is not None:
        forms = forms.keep(*keep)
    location = location_of(sample)
    return render_template(
        "samples/show.html",
        sample=sample,
        location=location,
        path=container_path(sample.position.box) if location and sample.position else [],
        events=samples.sample_events(actor, sample.barcode),
        event_facts=event_facts,
        offered=offered,
        forms=forms,
        ml=lifecycle.ml,
        sprec=sprec.describe(sample),
    ), status


def _page_again(
    actor: User, sample: Sample, name: str, form: PageForm
) -> Callable[[int], ResponseReturnValue]:
    """The tube's page with ``form`` as posted in place of its blank twin."""
    return lambda status: _render_sample(actor, sample, (name, form), status)


def _back_to(sample: Sample, message: str, **args: Any) -> ResponseReturnValue:
    return redirect_saying(message, url_for(".show", barcode=sample.barcode, **args))


def _named(sample: Sample) -> str:
    return f"{sample.tube_type.code} {sample.display_barcode}"


def _where(sample: Sample) -> str:
    location = location_of(sample)
    return " › ".join([*location["path"], location["position"]]) if location else "no box"


@bp.get("/<barcode>")
def show(barcode: str):
    actor, sample = _visible(barcode)
    if barcode != sample.barcode:  # one address per tube, however its ID was typed
        query: dict[str, Any] = request.args.to_dict()
        return redirect(url_for(".show", barcode=sample.barcode, **query))
    return _render_sample(actor, sample)


def _target_box(actor: User, form: BoxPositionForm) -> Container:
    """The box scanned, or else the box picked."""
    if form.scanned_box:
        return freezer_tree.find_box_by_barcode(actor, form.scanned_box)
    return freezer_tree.get_box(actor, form.box_id.data)


def _position(form: BoxPositionForm) -> str | None:
    return (form.position.data or "").strip() or None


def _box_form(
    actor: User,
    sample: Sample,
    action: policy.Action,
    kind: type[BoxPositionForm] = BoxPositionForm,
) -> BoxPositionForm:
    # The target box is looked up before the service sees the tube: a role that may not do
    # this gets its 403 first, not a 404 about a box of a site it cannot see.
    policy.require(actor, action)
    form = kind()
    form.offer_boxes(box_choices(actor, sample))
    return form


@bp.post("/<barcode>/store")
def store(barcode: str):
    actor, sample = _visible(barcode)
    form = _box_form(actor, sample, policy.Action.STORE)
    return submit(
        form,
        lambda: placing.store_sample(
            actor, _target_box(actor, form), sample.barcode, _position(form)
        ),
        done=lambda stored: _back_to(stored, f"{_named(stored)} is stored at {_where(stored)}."),
        again=_page_again(actor, sample, "store", form),
    )


@bp.post("/<barcode>/move")
def move(barcode: str):
    actor, sample = _visible(barcode)
    form = _box_form(actor, sample, policy.Action.HANDLE_SAMPLES, MoveForm)
    return submit(
        form,
        lambda: lifecycle.move_sample(
            actor,
            sample.barcode,
            _target_box(actor, form),
            _position(form),
            moving_from=form.moving_from,
        ),
        done=lambda moved: _back_to(moved, f"{_named(moved)} is now at {_where(moved)}."),
        again=_page_again(actor, sample, "move", form),
    )


@bp.post("/<barcode>/check-out")
def check_out(barcode: str):
    actor, sample = _visible(barcode)
    form = CheckOutForm()
    return submit(
        form,
        lambda: lifecycle.check_out(actor, sample.barcode, form.reason.data),
        done=lambda out: _back_to(
            out, f"{_named(out)} is checked out; its position is held for its return."
        ),
        again=_page_again(actor, sample, "check_out", form),
    )


@bp.post("/<barcode>/check-in")
def check_in(barcode: str):
    actor, sample = _visible(barcode)
    form = ConfirmForm()
    return submit(
        form,
        lambda: lifecycle.check_in(actor, sample.barcode),
        done=lambda back: _back_to(back, f"{_named(back)} is checked in at {_where(back)}."),
        again=_page_again(actor, sample, "check_in", form),
    )


@bp.post("/<barcode>/thaw")
def thaw(barcode: str):
    actor, sample = _visible(barcode)
    form = ThawForm()
    return submit(
        form,
        lambda: lifecycle.thaw(actor, sample.barcode, cycles_seen=form.count_seen),
        done=lambda thawed: _back_to(
            thawed,
            f"Thaw recorded: {_named(thawed)} has been through "
            f"{thawed.freeze_thaw_count} freeze–thaw cycle"
            f"{'s' if thawed.freeze_thaw_count != 1 else ''}.",
        ),
        again=_page_again(actor, sample, "thaw", form),
    )


@bp.post("/<barcode>/aliquot")
def aliquot(barcode: str):
    actor, sample = _visible(barcode)
    form = AliquotForm()

    def made(result: lifecycle.Aliquots) -> ResponseReturnValue:
        count = len(result.children)
        return _back_to(
            result.parent,
            f"{count} aliquot{'s' if count != 1 else ''} of {_named(result.parent)} made: "
            "print their labels below, then store them.",
            new=",".join(child.barcode for child in result.children),
            _anchor="aliquots",
        )

    return submit(
        form,
        lambda: lifecycle.aliquot(
            actor, sample.barcode, count=form.count.data, volume_ml=(form.volume_ml.data or "")
        ),
        done=made,
        again=_page_again(actor, sample, "aliquot", form),
    )


@bp.post("/<barcode>/aliquot-labels.<any(pdf, zpl):fmt>")
def print_aliquot_labels(barcode: str, fmt: Literal["pdf", "zpl"]):
    """Labels for the tube's aliquots (those ticked): new ones print, others need a reason."""
    actor, sample = _visible(barcode)
    form = AliquotLabelsForm()
    form.offer_tubes(list(sample.children))
    return submit(
        form,
        lambda: labelling.print_labels(
            actor,
            [child for child in sample.children if child.barcode in form.barcodes.data],
            name=f"aliquots-of-{sample.barcode}",
            fmt=fmt,
            stock=form.stock.data,
            start_position=form.start_position.data,
            reason=form.reason.data,
        ),
        done=lambda job: send_print_job(job, attachment=True),
        again=_page_again(actor, sample, "labels", form),
    )


@bp.post("/<barcode>/quarantine")
def quarantine(barcode: str):
    actor, sample = _visible(barcode)
    form = ReasonForm()
    return submit(
        form,
        lambda: lifecycle.quarantine(actor, sample.barcode, form.reason.data),
        done=lambda held: _back_to(
            held, f"{_named(held)} is quarantined: set it aside until it is released."
        ),
        again=_page_again(actor, sample, "quarantine", form),
    )


@bp.post("/<barcode>/release")
def release(barcode: str):
    actor, sample = _visible(barcode)
    form = ReasonForm()
    return submit(
        form,
        lambda: lifecycle.release(actor, sample.barcode, form.reason.data),
        done=lambda freed: _back_to(freed, f"{_named(freed)} is released from quarantine."),
        again=_page_again(actor, sample, "release", form),
    )


@bp.post("/<barcode>/withdraw")
def withdraw(barcode: str):
    actor, sample = _visible(barcode)
    form = ReasonForm()
    return submit(
        form,
        lambda: lifecycle.withdraw(actor, sample.barcode, form.reason.data),
        done=lambda out: _back_to(
            out, f"{_named(out)} is withdrawn from use; it waits in place for disposal."
        ),
        again=_page_again(actor, sample, "withdraw", form),
    )


@bp.post("/<barcode>/dispose")
def dispose(barcode: str):
    actor, sample = _visible(barcode)
    form = SignedReasonForm()
    return submit(
        form,
        lambda: lifecycle.dispose(
            actor,
            sample.barcode,
            form.reason.data,
            signature_password=form.signature_password.data,
            client_address=request.remote_addr,
        ),
        done=lambda gone: _back_to(gone, f"{_named(gone)} is disposed of; its position is free."),
        again=_page_again(actor, sample, "dispose", form),
    )
