"""Receiving at the biobank: scan the manifest, scan every tube in, close the receipt.

The receiving page is built for a USB barcode scanner, which types the code and presses Enter.
receiving.js sends each scan on its own to the JSON API
(``POST /api/v1/shipments/<id>/receipt/scans``, with the session cookie and the page's CSRF
token), so hundreds of scans never reload the page. What stays here is what a page does:
the start page (the manifest scan opens the receipt), the receiving page as first shown, and
the close form, which posts, calls ``receiving.close_receipt`` and shows the result, and
the correction form: undo a scan made in error, or quarantine a tube to set it aside.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank.models import Shipment, ShipmentStatus
from biobank.security import current_actor
from biobank.services.core import policy
from biobank.services.shipping import receiving, sending
from biobank.services.storage import lifecycle
from biobank.web.pages import redirect_saying, submit
from biobank.web.shipments import sample_links, submit_scan
from biobank.web.shipping_forms import CloseReceiptForm, ManifestScanForm, ScanCorrectionForm

bp = Blueprint("receiving", __name__, url_prefix="/receiving")
bp.context_processor(sample_links)
ON_THE_WAY_SHOWN = 100


@bp.before_request
@login_required
def require_receiver() -> None:
    """Receiving is a technician's job: any other role gets the 403 page on every route."""
    policy.require(current_actor(), policy.Action.RECEIVE)


# --- the start page: scan the manifest -------------------------------------------------------


@bp.route("", methods=["GET", "POST"])
def index():
    actor = current_actor()
    form = ManifestScanForm()

    def again(status: int = 200) -> ResponseReturnValue:
        on_the_way = sending.list_shipments(
            actor,
            status=ShipmentStatus.IN_TRANSIT,
            destination=actor.site,
            per_page=ON_THE_WAY_SHOWN,
        )
        return render_template("receiving/index.html", form=form, on_the_way=on_the_way), status

    if request.method == "GET":
        return again()
    return submit_scan(
        form,
        form.manifest_number,
        # Finding the shipment is a read; opening its receipt is the one write.
        lambda: receiving.open_receipt(
            actor, sending.find_by_manifest(actor, form.manifest_number.data or "")
        ),
        done=lambda shipment: redirect(url_for(".show", shipment_id=shipment.id)),
        again=again,
    )


# --- the receiving page -----------------------------------------------------------------------


def _render_receipt(
    shipment: Shipment,
    close_form: CloseReceiptForm,
    status: int = 200,
    correction_form: ScanCorrectionForm | None = None,
):
    return render_template(
        "receiving/show.html",
        shipment=shipment,
        close_form=close_form,
        correction_form=correction_form or ScanCorrectionForm(formdata=None),
        counts=receiving.receipt_counts(shipment),
        counted_missing=receiving.unscanned_are_missing(shipment),
        missing=receiving.tubes_still_missing(shipment),
        elsewhere=receiving.arrived_elsewhere(shipment),
        # A closed receipt still takes scans: a missing tube found later is received late.
        scannable=shipment.status in receiving.SCANNABLE,
    ), status


@bp.get("/<int:shipment_id>")
def show(shipment_id: int):
    shipment = sending.get_shipment(current_actor(), shipment_id)
    return _render_receipt(shipment, CloseReceiptForm(formdata=None))


def _closed(shipment: Shipment) -> ResponseReturnValue:
    counts = receiving.receipt_counts(shipment)
    status = str(shipment.status).replace("_", " ")
    if shipment.status == ShipmentStatus.RECEIVED:
        flash(f"Shipment {shipment.manifest_number} is received: every tube arrived.", "success")
    else:
        flash(
            f"Shipment {shipment.manifest_number} is {status}: {counts.missing} missing, "
            f"{counts.unexpected} unexpected, {counts.damaged} damaged"
            + (f", {counts.elsewhere} received in another shipment" if counts.elsewhere else "")
            + ".",
            "warning",
        )
    return redirect(url_for(".show", shipment_id=shipment.id, _anchor="receipt-result"))


@bp.post("/<int:shipment_id>/close")
def close(shipment_id: int):
    actor = current_actor()
    shipment = sending.get_shipment(actor, shipment_id)
    form = CloseReceiptForm()
    return submit(
        form,
        # Locked as the API does: two technicians closing at once take turns.
        lambda: receiving.close_receipt(
            actor,
            sending.get_shipment(actor, shipment_id, lock=True),
            condition=form.condition.data or "",
            temperature_c=form.temperature_c.data or None,
            notes=form.notes.data,
            signature_password=form.signature_password.data,
            client_address=request.remote_addr,
        ),
        done=_closed,
        again=lambda status: _render_receipt(shipment, form, status),
    )


# --- a scan made in error, a tube to set aside ----------------------------------------------


def _correct(shipment_id: int, act, done_saying) -> ResponseReturnValue:
    """The correction form posted to one of its two buttons: ``act`` is the service call,
    ``done_saying`` the sentence for the receiving page after it."""
    actor = current_actor()
    shipment = sending.get_shipment(actor, shipment_id)
    form = ScanCorrectionForm()
    return submit(
        form,
        lambda: act(actor, form),
        done=lambda result: redirect_saying(
            done_saying(result),
            url_for(".show", shipment_id=shipment.id, _anchor="correction"),
        ),
        again=lambda status: _render_receipt(
            shipment, CloseReceiptForm(formdata=None), status, correction_form=form
        ),
    )


@bp.post("/<int:shipment_id>/undo")
def undo_scan(shipment_id: int):
    return _correct(
        shipment_id,
        lambda actor, form: receiving.undo_scan(
            actor,
            sending.get_shipment(actor, shipment_id, lock=True, with_items=False),
            form.barcode.data or "",
            form.reason.data,
        ),
        lambda undone: undone.message,
    )


@bp.post("/<int:shipment_id>/quarantine")
def quarantine(shipment_id: int):
    return _correct(
        shipment_id,
        lambda actor, form: lifecycle.quarantine(actor, form.barcode.data or "", form.reason.data),
        lambda held: (
            f"{held.tube_type.code} {held.display_barcode} is quarantined: set it aside, not "
            "into a box, until it is released on its page."
        ),
    )
