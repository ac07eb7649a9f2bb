"""Shipment pages: the list, a new shipment, packing by scanning, dispatch, cancel, the manifest.

An open shipment's page is a packing bench: one scan field that keeps focus. With scripts on,
packing.js sends each scan to the JSON API (``POST /api/v1/shipments/<id>/items``) and grows
the list in place; without them the same form posts here and the page comes back (PRG). Either
way ``sending.pack_sample`` decides. A dispatched, received or cancelled shipment is read-only:
its details, every tube with its receipt outcome, and the manifest.

Coordinators read every site's shipments here; only the origin site's collectors change one.
Another site's shipment is a 404 from ``sending.get_shipment``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import login_required
from wtforms import Field

from biobank.downloads import send_printable_pdf
from biobank.errors import NotFound
from biobank.models import Shipment, ShipmentStatus, SiteKind, User
from biobank.security import current_actor
from biobank.services.core import ids, policy, sites
from biobank.services.shipping import receiving, sending
from biobank.services.shipping.sending import PackResult
from biobank.web.forms import PageForm
from biobank.web.pages import submit
from biobank.web.shipping_forms import (
    CancelShipmentForm,
    DispatchForm,
    NewShipmentForm,
    PackForm,
    ShipmentPageForms,
    UnpackForm,
)

bp = Blueprint("shipments", __name__, url_prefix="/shipments")

# The list's tabs: open shipments first, as they are the work still to do.
LIST_TABS: dict[str, ShipmentStatus | None] = {
    "open": ShipmentStatus.OPEN,
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "received": ShipmentStatus.RECEIVED,
    "discrepancies": ShipmentStatus.RECEIVED_WITH_DISCREPANCIES,
    "cancelled": ShipmentStatus.CANCELLED,
    "all": None,
}
PER_PAGE = 25
TUBES_PER_PAGE = 100


def sample_links() -> dict[str, Any]:
    """Whether tube IDs can link to a sample page (the samples pages are built separately)."""
    return {"sample_page": "samples.show" in current_app.view_functions}


bp.context_processor(sample_links)


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for logged-in staff."""


def submit_scan(
    form: PageForm,
    scanned: Field | None,
    service_call: Callable[[], Any],
    *,
    done: Callable[[Any], ResponseReturnValue],
    again: Callable[[int], ResponseReturnValue],
) -> ResponseReturnValue:
    """``submit`` for a form whose input names a record: a tube, a manifest.

    The page's own record was found before the call, so a ``NotFound`` from the service is
    about what was scanned. It is shown beside the scan field (or on top), with a 404, so the
    next scan can follow at once instead of landing on an error page.
    """
    try:
        return submit(form, service_call, done=done, again=again)
    except NotFound as unknown:
        if scanned is not None:
            scanned.errors = [*scanned.errors, unknown.detail]
        else:
            flash(unknown.detail, "error")
        return again(unknown.status)


# --- the list and a new shipment --------------------------------------------------------------


@bp.get("")
def index():
    tab = request.args.get("status", "open")
    if tab not in LIST_TABS:
        abort(404)
    found = sending.list_shipments(
        current_actor(),
        status=LIST_TABS[tab],
        page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE,
        with_items=False,
    )
    return render_template(
        "shipments/index.html",
        found=found,
        tab=tab,
        tabs=LIST_TABS,
        tubes=sending.manifested_counts(found.items),
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    actor = current_actor()
    # Before anyone picks anything: a role that cannot pack gets the 403 page at once.
    policy.require(actor, policy.Action.PACK)
    form = NewShipmentForm()
    form.offer_biobanks(sites.list_sites(SiteKind.BIOBANK))

    def again(status: int = 200) -> ResponseReturnValue:
        return render_template("shipments/new.html", form=form), status

    if request.method == "GET":
        return again()
    return submit(
        form,
        lambda: sending.open_shipment(
            actor,
            destination=form.destination.data or "",
            temperature=form.temperature.data or "",
        ),
        done=lambda opened: _back_to(
            opened,
            f"Shipment {opened.manifest_number} to {opened.destination.code} is open: scan "
            "its tubes.",
        ),
        again=again,
    )


# --- one shipment -----------------------------------------------------------------------------


def _visible(shipment_id: int) -> tuple[User, Shipment]:
    actor = current_actor()
    return actor, sending.get_shipment(actor, shipment_id)


def _render_page(shipment: Shipment, forms: ShipmentPageForms, status: int = 200):
    packing = sending.may_pack(current_actor(), shipment)
    return render_template(
        "shipments/show.html",
        shipment=shipment,
        forms=forms,
        packing=packing,
        # Newest first, as the packing list grows at the top while scanning.
        items=list(reversed(shipment.items)) if packing else [],
        # A shipment past packing can hold hundreds of tubes: they are read a page at a time.
        found=None
        if packing
        else sending.items_page(
            shipment, page=request.args.get("page", 1, type=int), per_page=TUBES_PER_PAGE
        ),
        counts=receiving.receipt_counts(shipment),
        counted_missing=receiving.unscanned_are_missing(shipment),
    ), status


def _page_again(shipment: Shipment, name: str, form: PageForm) -> Callable[[int], Any]:
    """The shipment page with ``form`` as posted in place of its blank twin."""

    def again(status: int) -> ResponseReturnValue:
        return _render_page(shipment, ShipmentPageForms.blank().keep(name, form), status)

    return again


def _back_to(shipment: Shipment, message: str, category: str = "success") -> ResponseReturnValue:
    flash(message, category)
    return redirect(url_for(".show", shipment_id=shipment.id))


@bp.get("/<int:shipment_id>")
def show(shipment_id: int):
    # Its tubes are read a page at a time (or, while packing, when the list is drawn).
    shipment = sending.get_shipment(current_actor(), shipment_id, with_items=False)
    return _render_page(shipment, ShipmentPageForms.blank())


def _packed_message(shipment: Shipment, packed: PackResult) -> tuple[str, str]:
    sample = packed.item.sample
    if not packed.added:
        return f"{sample.display_barcode} is in this shipment already.", "warning"
    count = len(shipment.items)
    return (
        f"Added {sample.tube_type.code} {sample.display_barcode}: {count} "
        f"tube{'s' if count != 1 else ''} packed.",
        "success",
    )


@bp.post("/<int:shipment_id>/items")
def pack(shipment_id: int):
    """A scan without scripts (packing.js sends scans to the API instead)."""
    actor, shipment = _visible(shipment_id)
    form = PackForm()
    return submit_scan(
        form,
        form.barcode,
        lambda: sending.pack_sample(actor, shipment, form.barcode.data or ""),
        done=lambda packed: _back_to(shipment, *_packed_message(shipment, packed)),
        again=_page_again(shipment, "pack", form),
    )


@bp.post("/<int:shipment_id>/items/<barcode>/remove")
def unpack(shipment_id: int, barcode: str):
    actor, shipment = _visible(shipment_id)
    return submit_scan(
        UnpackForm(),
        None,
        lambda: sending.unpack_sample(actor, shipment, barcode),
        done=lambda _: _back_to(
            shipment, f"Removed {ids.display(barcode)} from the shipment.", "info"
        ),
        again=lambda status: _render_page(shipment, ShipmentPageForms.blank(), status),
    )


@bp.post("/<int:shipment_id>/dispatch")
def dispatch(shipment_id: int):
    actor, shipment = _visible(shipment_id)
    form = DispatchForm()
    return submit(
        form,
        # Locked as the API does: a dispatch and a cancel of one shipment take turns.
        lambda: sending.dispatch_shipment(
            actor,
            sending.get_shipment(actor, shipment_id, lock=True),
            carrier=form.carrier.data or "",
            tracking_number=form.tracking_number.data or "",
            dry_ice_kg=form.dry_ice_kg.data or None,
            signature_password=form.signature_password.data,
            client_address=request.remote_addr,
        ),
        done=lambda sent: _back_to(
            sent,
            f"Shipment {sent.manifest_number} is on its way to {sent.destination.code}: "
            f"{len(sent.items)} tubes in transit. Print the manifest for the box.",
        ),
        again=_page_again(shipment, "dispatch", form),
    )


@bp.post("/<int:shipment_id>/cancel")
def cancel(shipment_id: int):
    actor, shipment = _visible(shipment_id)
    form = CancelShipmentForm()
    return submit(
        form,
        lambda: sending.cancel_shipment(
            actor, sending.get_shipment(actor, shipment_id, lock=True), form.reason.data
        ),
        done=lambda cancelled: _back_to(
            cancelled,
            f"Shipment {cancelled.manifest_number} is cancelled; its tubes can go in another.",
            "info",
        ),
        again=_page_again(shipment, "cancel", form),
    )


@bp.get("/<int:shipment_id>/manifest.pdf")
def manifest(shipment_id: int):
    """The manifest, opened in the browser to print (not saved as a download)."""
    actor, shipment = _visible(shipment_id)
    return send_printable_pdf(
        sending.manifest_pdf(actor, shipment), f"manifest-{shipment.manifest_number}.pdf"
    )
