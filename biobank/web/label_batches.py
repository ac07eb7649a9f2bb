"""Pre-labelled kits, as coordinators print them: a batch of kits for a clinic, its labels as
PDF or ZPL (recorded as printed; a reprint needs its reason), and which kits clinics have
claimed since. Thin views over ``services.collecting.labelling``."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank.downloads import send_print_job
from biobank.models import LabelBatch, SiteKind
from biobank.security import current_actor
from biobank.services.collecting import labelling
from biobank.services.core import catalogue, policy, sites
from biobank.web.collection_forms import NewLabelBatchForm, PrintLabelsForm
from biobank.web.pages import redirect_saying, submit

bp = Blueprint("label_batches", __name__, url_prefix="/label-batches")
PER_PAGE = 25


@bp.before_request
@login_required
def require_printer() -> None:
    """Label batches are for coordinators: others get the 403 page on every route."""
    policy.require(current_actor(), policy.Action.PRINT_LABEL_BATCHES)


def _new_form(formdata=None) -> NewLabelBatchForm:
    form = NewLabelBatchForm() if formdata is None else NewLabelBatchForm(formdata=formdata)
    return form.offer(sites.list_sites(SiteKind.COLLECTION), catalogue.list_kits())


def _index(form: NewLabelBatchForm, status: int = 200) -> ResponseReturnValue:
    found = labelling.list_label_batches(
        current_actor(), page=request.args.get("page", 1, type=int), per_page=PER_PAGE
    )
    return render_template("label_batches/index.html", found=found, form=form), status


@bp.get("")
def index():
    return _index(_new_form(formdata=None))


@bp.post("")
def create():
    form = _new_form()
    return submit(
        form,
        lambda: labelling.create_label_batch(
            current_actor(),
            site=form.site.data or "",
            kit=form.kit.data or "",
            count=form.count.data,
        ),
        done=lambda batch: redirect_saying(
            f"Batch {batch.id}: {batch.count} {batch.kit.code} kits for {batch.site.code} are "
            "ready to print.",
            url_for(".show", batch_id=batch.id),
        ),
        again=lambda status: _index(form, status),
    )


def batch_page(batch: LabelBatch, form: PrintLabelsForm, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "label_batches/show.html",
        batch=batch,
        kits=labelling.kits_of(batch),
        form=form,
        printed=labelling.batch_printed(batch),
    ), status


@bp.get("/<int:batch_id>")
def show(batch_id: int):
    batch = labelling.get_label_batch(current_actor(), batch_id)
    return batch_page(batch, PrintLabelsForm(formdata=None))


@bp.post("/<int:batch_id>/labels.<any(pdf, zpl):fmt>")
def print_labels(batch_id: int, fmt: str):
    """The batch's labels, kit by kit, recorded as printed (a reprint needs its reason)."""
    actor = current_actor()
    batch = labelling.get_label_batch(actor, batch_id)
    form = PrintLabelsForm()
    return submit(
        form,
        lambda: labelling.batch_labels(
            actor,
            batch,
            fmt=fmt,
            stock=form.stock.data,
            start_position=form.start_position.data,
            reason=form.reason.data,
        ),
        done=lambda job: send_print_job(job, attachment=True),
        again=lambda status: batch_page(batch, form, status),
    )
