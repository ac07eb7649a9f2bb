"""Label printers on the web: admins register a site's printers and take them out of use;
the label cards of the collection and label batch pages offer "Print to <printer>" for each
printer of the user's site in use. Thin views over ``services.collecting.printers`` and
``biobank.printing`` (the rules, who may print where, and what is recorded live there).

A print posts, sends, and redirects back to the page with what happened (POST/redirect/GET:
reloading the page prints nothing). When the printer did not take the labels, the message
says so, that nothing was recorded as printed, and what to check. A reprint without its
reason shows the page again with the question beside the reason field, as the PDF does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank import printing
from biobank.errors import Conflict, PrinterUnavailable, ServiceUnavailable, ValidationFailed
from biobank.models import Printer, PrinterJob
from biobank.security import current_actor
from biobank.services.collecting import collections, labelling, printers
from biobank.services.core import policy, sites
from biobank.services.core.settings import setting
from biobank.web import collections as collection_pages
from biobank.web import counted
from biobank.web import label_batches as label_batch_pages
from biobank.web.collection_forms import PrintLabelsForm
from biobank.web.pages import redirect_saying, submit
from biobank.web.printer_forms import NewPrinterForm, PrinterSettingsForm, PrintToPrinterForm

# Admins: /admin/printers (every route needs the right to register printers).
bp = Blueprint("printers", __name__, url_prefix="/admin/printers")
# Everyone who prints labels: the "Print to" buttons of the label cards.
printing_bp = Blueprint("printing", __name__)
PER_PAGE = 50
RECENT_JOBS = 20


@bp.before_request
@login_required
def require_admin() -> None:
    """Registering printers is for admins: others get the 403 page on every route."""
    policy.require(current_actor(), policy.Action.MANAGE_PRINTERS)


@printing_bp.before_request
@login_required
def require_login() -> None:
    """Printing is for logged-in staff; who may print what is the service's to say."""


@printing_bp.app_template_global("label_printers")
def label_printers() -> list[Printer]:
    """The printers the signed-in person may print to now (their site's, in use)."""
    return printers.printers_for(current_actor())


# --- the admin pages --------------------------------------------------------------------------


def _new_form(formdata=None) -> NewPrinterForm:
    form = NewPrinterForm() if formdata is None else NewPrinterForm(formdata=formdata)
    return form.offer(sites.list_sites())


def _index(form: NewPrinterForm, status: int = 200) -> ResponseReturnValue:
    actor = current_actor()
    site = request.args.get("site", "")
    found = printers.list_printers(
        actor,
        site=site or None,
        page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE,
    )
    return render_template(
        "admin/printers.html",
        found=found,
        form=form,
        sites=sites.list_sites(),
        site=site,
        networks=setting("BIOBANK_PRINTER_NETWORKS"),
        ports=setting("BIOBANK_PRINTER_PORTS"),
    ), status


@bp.get("")
def index():
    """The printers of every site (or of one: ``?site=``), and a form to register one."""
    return _index(_new_form(formdata=None))


@bp.post("")
def register():
    actor = current_actor()
    form = _new_form()
    return submit(
        form,
        lambda: printers.register_printer(actor, site=form.site.data or "", **form.settings()),
        done=lambda printer: redirect_saying(
            f"{printer.name} is registered at {printer.site.code}: its people see "
            f"“Print to {printer.name}” beside their labels.",
            url_for(".index", site=printer.site.code),
        ),
        again=lambda status: _index(form, status),
    )


def _page(printer: Printer, form: PrinterSettingsForm, status: int = 200) -> ResponseReturnValue:
    jobs = printers.list_printer_jobs(current_actor(), printer, per_page=RECENT_JOBS)
    return render_template(
        "admin/printer.html",
        printer=printer,
        form=form,
        jobs=jobs,
        unconfirmed=printers.unconfirmed,
    ), status


@bp.get("/<int:printer_id>")
def show(printer_id: int):
    """One printer: change it, take it out of use, and its latest jobs."""
    printer = printers.get_printer(current_actor(), printer_id)
    return _page(printer, PrinterSettingsForm.of(printer))


@bp.post("/<int:printer_id>")
def update(printer_id: int):
    actor = current_actor()
    printer = printers.get_printer(actor, printer_id)
    form = PrinterSettingsForm()
    return submit(
        form,
        lambda: printers.update_printer(actor, printer, **form.settings()),
        done=lambda changed: redirect_saying(
            f"{changed.name} is changed.", url_for(".show", printer_id=changed.id)
        ),
        again=lambda status: _page(printer, form, status),
    )


def _set_active(printer_id: int, active: bool, message: str) -> ResponseReturnValue:
    actor = current_actor()
    printer = printers.get_printer(actor, printer_id)
    return submit(
        PrintToPrinterForm(),  # the CSRF token is all the button posts
        lambda: printers.update_printer(actor, printer, active=active),
        done=lambda changed: redirect_saying(
            message.format(name=changed.name), url_for(".show", printer_id=changed.id)
        ),
        again=lambda status: _page(printer, PrinterSettingsForm.of(printer), status),
    )


@bp.post("/<int:printer_id>/out-of-use")
def take_out_of_use(printer_id: int):
    return _set_active(
        printer_id,
        False,
        "{name} is out of use: nobody can print to it until it is put back. Its jobs stay.",
    )


@bp.post("/<int:printer_id>/in-use")
def put_back_in_use(printer_id: int):
    return _set_active(printer_id, True, "{name} is in use again.")


# --- printing from the label cards ------------------------------------------------------------

# The label card's page again, with the posted form shown (its errors beside its fields).
PageAgain = Callable[[PrintLabelsForm], Callable[[int], ResponseReturnValue]]


def _print(printer_id: int, back: str, page_again: PageAgain, **subject) -> ResponseReturnValue:
    """Send the labels to the printer, then back to the page saying what happened."""
    actor = current_actor()
    form = PrintToPrinterForm()
    shown = PrintLabelsForm()
    again = page_again(shown)
    if not form.validate_on_submit():
        shown.form_errors.append("The page was out of date: nothing was printed. Try again.")
        return again(400)
    try:
        job = printing.print_to_printer(
            actor, printer_id, reason=(form.reason.data or "").strip() or None, **subject
        )
    except ValidationFailed as refused:
        # e.g. a reprint without its reason: the page asks, beside the field, as for a PDF.
        if not shown.show_refusal(refused):
            flash(refused.detail, "error")
        return again(refused.status)
    except (PrinterUnavailable, ServiceUnavailable, Conflict) as failed:
        # Off, refusing, stopped midway, busy or out of use; or printed but not recorded.
        flash(failed.detail, "error")
        return redirect(back)
    return redirect_saying(_sent(job), back)


def _sent(job: PrinterJob) -> str:
    tubes = len(job.sample_ids)
    return (
        f"Sent {counted(job.labels, 'label')} to {job.printer.name} "
        f"({counted(tubes, 'tube')}, print job {job.id}): recorded as printed."
    )


@printing_bp.post("/collections/<int:collection_id>/print/<int:printer_id>")
def print_collection(collection_id: int, printer_id: int):
    """Every label of a collection, on one of the site's printers."""
    collection = collections.get_collection(current_actor(), collection_id)
    return _print(
        printer_id,
        url_for("collections.show", collection_id=collection.id),
        lambda shown: collection_pages.page_again(collection, "labels", shown),
        collection=collection.id,
    )


@printing_bp.post("/collections/<int:collection_id>/tubes/<barcode>/print/<int:printer_id>")
def reprint_tube(collection_id: int, barcode: str, printer_id: int):
    """One tube's label again, on one of the site's printers (with the reason)."""
    collection = collections.get_collection(current_actor(), collection_id)
    sample = collections.collection_sample(collection, barcode)
    return _print(
        printer_id,
        url_for("collections.show", collection_id=collection.id, _anchor=f"tube-{sample.barcode}"),
        lambda shown: collection_pages.page_again(collection, "reprint", shown, sample.barcode),
        collection=collection.id,
        barcodes=[sample.barcode],
    )


@printing_bp.post("/label-batches/<int:batch_id>/print/<int:printer_id>")
def print_label_batch(batch_id: int, printer_id: int):
    """A batch's labels, kit by kit, on one of the site's printers."""
    batch = labelling.get_label_batch(current_actor(), batch_id)
    return _print(
        printer_id,
        url_for("label_batches.show", batch_id=batch.id),
        lambda shown: partial(label_batch_pages.batch_page, batch, shown),
        label_batch=batch.id,
    )
