"""Clinic staff's collection pages: start, per-tube times, labels, finalize, cancel, restore, amend.

Every POST parses its form, makes one service call in one unit of work and redirects to the
collection page (POST/redirect/GET), or sends the label file. When the service refuses, the
same page comes back with the message beside the field it names, what was typed kept, and the
refusal's status (422 for input, 409 for a state conflict). A collection of another site is a
404 from ``collections.get_collection``; a role that may not collect gets the 403 page.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank.downloads import send_print_job
from biobank.errors import ValidationFailed
from biobank.models import Collection, CollectionStatus, User
from biobank.security import current_actor
from biobank.services.collecting import collections, labelling, participants
from biobank.services.core import catalogue, policy
from biobank.services.core.timebounds import days_in
from biobank.web import counted, local_time
from biobank.web.collection_forms import (
    AllTimesForm,
    AmendForm,
    CollectedForm,
    CollectionPageForms,
    FinalizeForm,
    NewCollectionForm,
    PrintLabelsForm,
    ProcessedForm,
    ReasonForm,
    from_site_local,
    posted_time,
)
from biobank.web.forms import CollectionFilterForm, PageForm
from biobank.web.pages import submit

bp = Blueprint("collections", __name__, url_prefix="/collections")

# The list's tabs: drafts first, as they are the work still to do.
# The list opens on every recent collection; the tabs narrow it to one status.
LIST_TABS: dict[str, CollectionStatus | None] = {
    "all": None,
    "draft": CollectionStatus.DRAFT,
    "finalized": CollectionStatus.FINALIZED,
    "cancelled": CollectionStatus.CANCELLED,
}
PER_PAGE = 25


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for logged-in staff."""


# --- the list and a new collection ----------------------------------------------------------


@bp.get("")
def index():
    """Recent collections, newest first: by status (tabs), participant and start date."""
    tab = request.args.get("status", "all")
    if tab not in LIST_TABS:
        abort(404)
    actor = current_actor()
    form = CollectionFilterForm(formdata=request.args)
    found = None
    if form.validate():
        try:
            since, until = days_in(actor.site.timezone, form.since.data, form.until.data)
            participant = (
                participants.participant_id_field(form.participant_id.data)
                if form.participant_id.data
                else None
            )
            found = collections.list_collections(
                actor,
                status=LIST_TABS[tab],
                participant_id=participant,
                started_since=since,
                started_until=until,
                page=request.args.get("page", 1, type=int),
                per_page=PER_PAGE,
            )
        except ValidationFailed as refused:
            for name, messages in (refused.errors or {}).items():
                form[name].errors = list(messages)
    filtered = any(request.args.get(name) for name in ("participant_id", "since", "until"))
    return render_template(
        "collections/index.html",
        found=found,
        form=form,
        filtered=filtered,
        tab=tab,
        tabs=LIST_TABS,
    ), (200 if found is not None else 422)


@bp.route("/new", methods=["GET", "POST"])
def new():
    actor = current_actor()
    # Before anyone scans anything: a role that cannot collect gets the 403 page at once.
    policy.require(actor, policy.Action.COLLECT)
    kits = catalogue.list_kits()
    kits_by_code = {kit.code: kit for kit in kits}
    form = NewCollectionForm()
    form.offer_kits(kits)

    def again(status: int = 200) -> ResponseReturnValue:
        return render_template("collections/new.html", form=form, kits=kits_by_code), status

    if request.method == "GET":
        return again()
    return submit(
        form,
        lambda: collections.start_collection(
            actor,
            participant_id=form.participant_id.data or "",
            kit=form.kit.data or None,
            claim_barcode=form.claim_barcode.data or None,
            notes=form.notes.data,
        ),
        done=lambda started: _back_to(
            started,
            f"Collection #{started.id} started with {len(started.samples)} tubes: "
            "print their labels, then record the times.",
        ),
        again=again,
    )


# --- one collection -------------------------------------------------------------------------


def _visible(collection_id: int) -> tuple[User, Collection]:
    actor = current_actor()
    return actor, collections.get_collection(actor, collection_id)


def _render_page(collection: Collection, forms: CollectionPageForms, status: int = 200):
    return render_template(
        "collections/show.html",
        collection=collection,
        forms=forms,
        warnings=collections.warnings_for(collection),
    ), status


def page_again(
    collection: Collection, name: str, form: PageForm, barcode: str | None = None
) -> Callable[[int], ResponseReturnValue]:
    """The collection page with ``form`` as posted in place of its blank twin."""

    def again(status: int) -> ResponseReturnValue:
        forms = CollectionPageForms.blank(collection).keep(name, form, barcode)
        return _render_page(collection, forms, status)

    return again


def _back_to(
    collection: Collection, message: str, barcode: str | None = None
) -> ResponseReturnValue:
    flash(message, "success")
    anchor = f"tube-{barcode}" if barcode else None
    return redirect(url_for(".show", collection_id=collection.id, _anchor=anchor))


@bp.get("/<int:collection_id>")
def show(collection_id: int):
    _, collection = _visible(collection_id)
    return _render_page(collection, CollectionPageForms.blank(collection))


@bp.post("/<int:collection_id>/tubes/<barcode>/collected")
def record_collected(collection_id: int, barcode: str):
    actor, collection = _visible(collection_id)
    sample = collections.collection_sample(collection, barcode)
    form = CollectedForm()
    return submit(
        form,
        lambda: collections.record_collected(
            actor,
            collection,
            sample.barcode,
            posted_time(form.collected_at.data, collection.site, "collected_at"),
        ),
        done=lambda recorded: _back_to(
            collection,
            f"{recorded.tube_type.code} {recorded.display_barcode} collected at "
            f"{local_time(recorded.collected_at, collection.site)}.",
            recorded.barcode,
        ),
        again=page_again(collection, "collected", form, sample.barcode),
    )


@bp.post("/<int:collection_id>/tubes/<barcode>/processed")
def record_processed(collection_id: int, barcode: str):
    actor, collection = _visible(collection_id)
    sample = collections.collection_sample(collection, barcode)
    form = ProcessedForm()
    return submit(
        form,
        lambda: collections.record_processed(
            actor,
            collection,
            sample.barcode,
            posted_time(form.processed_at.data, collection.site, "processed_at"),
            centrifuge=form.centrifuge.data,
        ),
        done=lambda recorded: _back_to(
            collection,
            f"{recorded.tube_type.code} {recorded.display_barcode} processed at "
            f"{local_time(recorded.processed_at, collection.site)}.",
            recorded.barcode,
        ),
        again=page_again(collection, "processed", form, sample.barcode),
    )


@bp.post("/<int:collection_id>/times")
def record_all_times(collection_id: int):
    """One draw time (and spin time) for every ticked tube, in one submit."""
    actor, collection = _visible(collection_id)
    form = AllTimesForm().offer_tubes(collection)
    site = collection.site
    return submit(
        form,
        lambda: collections.record_all_times(
            actor,
            collection,
            collected_at=from_site_local(form.collected_at.data, site)
            if form.collected_at.data
            else None,
            processed_at=from_site_local(form.processed_at.data, site)
            if form.processed_at.data
            else None,
            centrifuge=form.centrifuge.data,
            barcodes=form.tubes.data or [],
        ),
        done=lambda recorded: _back_to(
            collection, f"Times recorded for {counted(len(recorded), 'tube')}."
        ),
        again=page_again(collection, "all_times", form),
    )


# --- labels ---------------------------------------------------------------------------------


def _print(
    actor: User, collection: Collection, fmt: str, name: str, barcode: str | None = None
) -> ResponseReturnValue:
    """Print (or reprint, with a reason) the labels of the collection or of one tube."""
    form = PrintLabelsForm()
    return submit(
        form,
        lambda: labelling.collection_labels(
            actor,
            collection,
            barcodes=[barcode] if barcode else (),
            fmt=fmt,
            stock=form.stock.data,
            start_position=form.start_position.data,
            reason=form.reason.data,
        ),
        done=lambda job: send_print_job(job, attachment=True),
        again=page_again(collection, name, form, barcode),
    )


@bp.post("/<int:collection_id>/labels.<any(pdf, zpl):fmt>")
def print_labels(collection_id: int, fmt: str):
    actor, collection = _visible(collection_id)
    return _print(actor, collection, fmt, "labels")


@bp.post("/<int:collection_id>/tubes/<barcode>/labels.<any(pdf, zpl):fmt>")
def reprint_label(collection_id: int, barcode: str, fmt: str):
    actor, collection = _visible(collection_id)
    sample = collections.collection_sample(collection, barcode)
    return _print(actor, collection, fmt, "reprint", sample.barcode)


# --- lifecycle ------------------------------------------------------------------------------


@bp.post("/<int:collection_id>/finalize")
def finalize(collection_id: int):
    actor, collection = _visible(collection_id)
    form = FinalizeForm()
    return submit(
        form,
        lambda: collections.finalize_collection(actor, collection),
        done=lambda _: _back_to(
            collection, f"Collection #{collection.id} is finalized: its tubes are ready to pack."
        ),
        again=page_again(collection, "finalize", form),
    )


@bp.post("/<int:collection_id>/cancel")
def cancel(collection_id: int):
    actor, collection = _visible(collection_id)
    form = ReasonForm()
    return submit(
        form,
        lambda: collections.cancel_collection(actor, collection, form.reason.data),
        done=lambda _: _back_to(collection, f"Collection #{collection.id} is cancelled."),
        again=page_again(collection, "cancel", form),
    )


@bp.post("/<int:collection_id>/restore")
def restore(collection_id: int):
    actor, collection = _visible(collection_id)
    form = ReasonForm()
    return submit(
        form,
        lambda: collections.restore_collection(actor, collection, form.reason.data),
        done=lambda _: _back_to(
            collection, f"Collection #{collection.id} is restored: it is {collection.status} again."
        ),
        again=page_again(collection, "restore", form),
    )


@bp.post("/<int:collection_id>/amend")
def amend(collection_id: int):
    actor, collection = _visible(collection_id)
    form = AmendForm.for_collection(collection)
    return submit(
        form,
        lambda: collections.amend_collection(
            actor,
            collection,
            form.reason.data,
            notes=form.notes.data,
            corrections=form.corrections(collection.site),
        ),
        done=lambda _: _back_to(
            collection, f"Collection #{collection.id} is amended; the old values are kept."
        ),
        again=page_again(collection, "amend", form),
    )
