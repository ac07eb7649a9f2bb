"""Distribution pages: the studies a biobank supplies (protocols), what each asked for
(requests), the tubes proposed for a request and their reservation.

A coordinator records a protocol and its requests, reads the proposal (tubes grouped by
participant, each with its freezer location, fewest thaws first, and what is short), approves
it, and releases or cancels with a reason. Technicians read the same pages (the tubes they
will pick); clinic staff have nothing here (403). Another biobank's protocol or request is a
404 from the services. Every form posts, makes one service call and redirects back with what
happened (POST/redirect/GET); a refusal shows the page again with the message beside its field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from itertools import groupby
from typing import Any, Self, get_type_hints

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy.orm import selectinload

from biobank.downloads import send_document, send_printable_pdf
from biobank.errors import Conflict, Forbidden, NotFound
from biobank.extensions import db
from biobank.models import (
    DistributionProtocol,
    DistributionRequest,
    ProtocolStatus,
    RequestStatus,
    Sample,
    SiteKind,
    StoragePosition,
)
from biobank.security import current_actor
from biobank.services.core import ids, policy, sites
from biobank.services.core.pages import page_of
from biobank.services.distribution import outbound as outbound_service
from biobank.services.distribution import picking, protocols, requests
from biobank.services.storage.storage_paths import location_of
from biobank.web import counted
from biobank.web.distribution_forms import (
    ApproveForm,
    CancelRequestForm,
    CancelShipmentForm,
    CloseProtocolForm,
    OutboundPackForm,
    PickForm,
    ProtocolForm,
    ReleaseForm,
    RequestForm,
    ReturnForm,
    shown_ids,
    specimen_name,
)
from biobank.web.forms import PageForm
from biobank.web.pages import redirect_saying, submit
from biobank.web.shipments import sample_links, submit_scan
from biobank.web.shipping_forms import DispatchForm, UnpackForm

bp = Blueprint("distribution", __name__, url_prefix="/distribution")
bp.context_processor(sample_links)

PER_PAGE = 50
# The list's tabs: protocols taking requests first, as they are the work still to do.
LIST_TABS = ("open", "expired", "closed", "all")
# At most this many sample IDs are named in one message; the rest are counted.
NAMED_IN_A_MESSAGE = 10


def may_open_distribution(user) -> bool:
    """Coordinators (who record and approve) and technicians (who pick and ship)."""
    return policy.can(user, policy.Action.DISTRIBUTE) or policy.can(
        user, policy.Action.PICK_AND_SHIP
    )


@bp.before_request
@login_required
def require_distribution_role() -> None:
    """Clinic staff and admins have nothing here: the 403 page on every route."""
    if not may_open_distribution(current_actor()):
        raise Forbidden(
            "Distribution to research is for the biobank's coordinators and technicians."
        )


@bp.app_template_filter("specimen_name")
def _specimen_name(kind) -> str:
    return specimen_name(kind)


bp.add_app_template_filter(picking.ml, "ml")


def protocol_state(protocol: DistributionProtocol) -> str:
    """open, expired (open, but its approval has run out) or closed."""
    if protocol.status == ProtocolStatus.CLOSED:
        return "closed"
    return "open" if protocols.accepting_requests(protocol) else "expired"


# --- protocols --------------------------------------------------------------------------------


@bp.get("")
def index():
    tab = request.args.get("status", "open")
    if tab not in LIST_TABS:
        abort(404)
    every = protocols.list_protocols(current_actor())
    states = {protocol.id: protocol_state(protocol) for protocol in every}
    chosen = [p for p in reversed(every) if tab == "all" or states[p.id] == tab]
    return render_template(
        "distribution/index.html",
        found=page_of(chosen, page=request.args.get("page", 1, type=int), per_page=PER_PAGE),
        tab=tab,
        tabs=LIST_TABS,
        states=states,
    )


@bp.route("/protocols/new", methods=["GET", "POST"])
def new_protocol():
    actor = current_actor()
    policy.require(actor, policy.Action.DISTRIBUTE)
    form = ProtocolForm().offer_biobanks(sites.list_sites(SiteKind.BIOBANK), actor.site)

    def again(status: int = 200) -> ResponseReturnValue:
        return render_template("distribution/new_protocol.html", form=form), status

    if request.method == "GET":
        return again()
    return submit(
        form,
        lambda: protocols.create_protocol(actor, **form.values()),
        done=lambda made: redirect_saying(
            f"Protocol {made.approval_number} ({made.title}) is recorded: record the study's "
            "requests under it.",
            url_for(".protocol", protocol_id=made.id),
        ),
        again=again,
    )


def _protocol_page(
    protocol: DistributionProtocol, close: CloseProtocolForm | None = None, status: int = 200
) -> ResponseReturnValue:
    found = requests.list_requests(
        current_actor(),
        protocol,
        page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE,
    )
    return render_template(
        "distribution/protocol.html",
        protocol=protocol,
        state=protocol_state(protocol),
        found=found,
        close=close or CloseProtocolForm(formdata=None),
    ), status


@bp.get("/protocols/<int:protocol_id>")
def protocol(protocol_id: int):
    return _protocol_page(protocols.get_protocol(current_actor(), protocol_id))


@bp.post("/protocols/<int:protocol_id>/close")
def close_protocol(protocol_id: int):
    actor = current_actor()
    found = protocols.get_protocol(actor, protocol_id)
    form = CloseProtocolForm()
    return submit(
        form,
        lambda: protocols.close_protocol(actor, found, form.reason.data),
        done=lambda _: redirect_saying(
            f"Protocol {found.approval_number} is closed: it takes no new requests. Requests "
            "already approved keep their tubes until released.",
            url_for(".protocol", protocol_id=found.id),
        ),
        again=lambda status: _protocol_page(found, form, status),
    )


# --- recording a request ----------------------------------------------------------------------


@bp.route("/protocols/<int:protocol_id>/requests/new", methods=["GET", "POST"])
def new_request(protocol_id: int):
    actor = current_actor()
    policy.require(actor, policy.Action.DISTRIBUTE)
    under = protocols.get_protocol(actor, protocol_id)
    form = RequestForm().offer_specimens(under)

    def again(status: int = 200) -> ResponseReturnValue:
        return render_template(
            "distribution/new_request.html",
            protocol=under,
            state=protocol_state(under),
            form=form,
        ), status

    if request.method == "GET":
        return again()
    return submit(
        form,
        lambda: requests.record_request(actor, under, **form.values()),
        done=lambda made: redirect_saying(
            f"Request {made.id} is recorded as a draft: check the tubes proposed for it, then "
            "approve.",
            url_for(".request_page", request_id=made.id),
        ),
        again=again,
    )


# --- one request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tube:
    """A tube on the page: the sample, its participant and where it is."""

    sample: Sample
    participant_id: str
    location: dict[str, Any] | None


@dataclass(frozen=True)
class ParticipantTubes:
    participant_id: str
    tubes: list[Tube]


class PageForms:
    """Every form of a page, blank (on a page shown again after a POST only the posted form
    keeps what was typed); a view swaps in the one that was posted. Subclasses are
    dataclasses whose fields name the forms' classes."""

    @classmethod
    def blank(cls) -> Self:
        hints = get_type_hints(cls)
        return cls(**{each.name: hints[each.name](formdata=None) for each in fields(cls)})  # type: ignore[arg-type]

    def keep(self, name: str, posted: PageForm) -> Self:
        setattr(self, name, posted)
        return self


@dataclass
class RequestForms(PageForms):
    approve: ApproveForm
    release: ReleaseForm
    cancel: CancelRequestForm


def _located(sample_ids: Iterable[int]) -> dict[int, Sample]:
    """The tubes by id, with their positions and tube types read in a few statements."""
    wanted = sorted(set(sample_ids))
    if not wanted:
        return {}
    stmt = (
        sa.select(Sample)
        .where(Sample.id.in_(wanted))
        .options(
            selectinload(Sample.position).selectinload(StoragePosition.box),
            selectinload(Sample.tube_type),
            selectinload(Sample.collection),
        )
    )
    return {sample.id: sample for sample in db.session.scalars(stmt)}


def _by_participant(tubes: list[Tube]) -> list[ParticipantTubes]:
    """Grouped by participant, in the order given (the proposal's: its ranking)."""
    return [
        ParticipantTubes(participant, list(group))
        for participant, group in groupby(tubes, key=lambda tube: tube.participant_id)
    ]


def shortfall(proposal: requests.Proposal) -> str:
    """The shortfall in words ("12 of 20 participants; 3 tubes short"), or that none is."""
    asked = proposal.request
    if not proposal.participants_short and not proposal.tubes_short:
        return (
            f"All {counted(asked.participants_wanted, 'participant')} with "
            f"{counted(asked.tubes_per_participant, 'tube')} each: "
            f"{counted(len(proposal.tubes), 'tube')}."
        )
    said = f"{proposal.participants} of {counted(asked.participants_wanted, 'participant')}"
    if proposal.tubes_short:
        said += f"; {counted(proposal.tubes_short, 'tube')} short"
    return said + f" ({len(proposal.tubes)} of {asked.tubes_wanted} tubes found)."


def _proposal_view(proposal: requests.Proposal) -> list[ParticipantTubes]:
    samples = _located(tube.sample_id for tube in proposal.tubes)
    return _by_participant(
        [
            Tube(
                samples[tube.sample_id],
                tube.participant_id,
                location_of(samples[tube.sample_id]),
            )
            for tube in proposal.tubes
        ]
    )


def participant_of(sample: Sample) -> str:
    return sample.collection.participant_id if sample.collection is not None else "—"


def _reserved_view(held: DistributionRequest) -> list[ParticipantTubes]:
    """The tubes a request holds now, by participant, fewest thaws first."""
    samples = _located(sample.id for sample in requests.reserved_tubes(held))
    tubes = sorted(
        (Tube(sample, participant_of(sample), location_of(sample)) for sample in samples.values()),
        key=lambda tube: (tube.participant_id, tube.sample.freeze_thaw_count, tube.sample.id),
    )
    return _by_participant(tubes)


def _request_page(
    shown: DistributionRequest, forms: RequestForms | None = None, status: int = 200
) -> ResponseReturnValue:
    actor = current_actor()
    forms = forms or RequestForms.blank()
    proposal = None
    proposed: list[ParticipantTubes] = []
    draft = shown.status == RequestStatus.DRAFT
    if draft and policy.can(actor, policy.Action.DISTRIBUTE):
        proposal = requests.propose(actor, shown)
        proposed = _proposal_view(proposal)
        if not forms.approve.sample_ids.data:
            forms.approve = ApproveForm.of(proposal.barcodes)
    return render_template(
        "distribution/request.html",
        req=shown,
        protocol=shown.protocol,
        state=protocol_state(shown.protocol),
        proposal=proposal,
        proposed=proposed,
        shortfall=shortfall(proposal) if proposal else None,
        reserved=[] if draft else _reserved_view(shown),
        forms=forms,
        may_decide=policy.can(actor, policy.Action.DISTRIBUTE),
        links=_pick_and_ship_links(shown),
    ), status


def _pick_and_ship_links(shown: DistributionRequest) -> dict[str, str]:
    """Where to pick this request's tubes (while there is something to pick) and its
    outbound shipment (once picking has begun)."""
    found = {}
    if shown.status in picking.PICKABLE:
        found["pick"] = url_for(".pick_list", request_id=shown.id)
    if shown.status in (RequestStatus.APPROVED, RequestStatus.PICKING, RequestStatus.SHIPPED):
        found["ship"] = url_for(".outbound", request_id=shown.id)
    return found


def _request_again(shown: DistributionRequest, name: str, form: PageForm) -> Callable:
    def again(status: int) -> ResponseReturnValue:
        return _request_page(shown, RequestForms.blank().keep(name, form), status)

    return again


@bp.get("/requests/<int:request_id>")
def request_page(request_id: int):
    return _request_page(requests.get_request(current_actor(), request_id))


def _named(barcodes: list[str]) -> str:
    shown = shown_ids(barcodes[:NAMED_IN_A_MESSAGE])
    more = len(barcodes) - NAMED_IN_A_MESSAGE
    return shown + (f" and {more} more" if more > 0 else "")


def taken_words(taken: dict[str, int]) -> str:
    """Which tubes other requests took, request by request: "Request 7 took 12345-67890."."""
    by_request: dict[int, list[str]] = {}
    for barcode, holder in sorted(taken.items()):
        by_request.setdefault(holder, []).append(barcode)
    return " ".join(
        f"Request {holder} took {_named(barcodes)}." for holder, barcodes in by_request.items()
    )


def approval_words(approval: requests.Approval) -> str:
    said = approval.summary
    if approval.taken:
        said += " " + taken_words(approval.taken)
    if approval.unavailable:
        said += f" No longer matching: {_named(approval.unavailable)}."
    return said


def _approve_and_say(actor, shown: DistributionRequest, chosen: list[str] | None):
    """Approve; a refusal that names tubes other requests took says which and by whom."""
    try:
        return requests.approve(actor, shown, chosen)
    except Conflict as refused:
        taken = refused.extra.get("taken")
        if not taken:
            raise
        raise Conflict(f"{refused.detail} {taken_words(taken)}", **refused.extra) from None


@bp.post("/requests/<int:request_id>/approve")
def approve(request_id: int):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    form = ApproveForm()
    return submit(
        form,
        lambda: _approve_and_say(actor, shown, form.chosen()),
        done=lambda approval: _back_to(
            shown,
            f"Request {shown.id} is approved. {approval_words(approval)}",
            "warning" if approval.taken or approval.unavailable else "success",
        ),
        again=_request_again(shown, "approve", form),
    )


def _back_to(shown: DistributionRequest, message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for(".request_page", request_id=shown.id))


def _with_reason(
    request_id: int,
    name: str,
    call: Callable[..., list[str]],
    said: Callable[[DistributionRequest, list[str]], str],
) -> ResponseReturnValue:
    """Release or cancel: the reason typed, one service call, back to the request saying
    which tubes went back to the freezer stock."""
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    form = ReleaseForm() if name == "release" else CancelRequestForm()
    return submit(
        form,
        lambda: call(actor, shown, form.reason.data),
        done=lambda freed: _back_to(shown, said(shown, freed), "info"),
        again=_request_again(shown, name, form),
    )


@bp.post("/requests/<int:request_id>/release")
def release(request_id: int):
    return _with_reason(
        request_id,
        "release",
        requests.release,
        lambda shown, freed: (
            f"Released {counted(len(freed), 'tube')} of request {shown.id}: "
            "they are free for other requests."
        ),
    )


@bp.post("/requests/<int:request_id>/cancel")
def cancel(request_id: int):
    return _with_reason(
        request_id,
        "cancel",
        requests.cancel_request,
        lambda shown, freed: (
            f"Request {shown.id} is cancelled"
            + (f"; {counted(len(freed), 'reserved tube')} released." if freed else ".")
        ),
    )


# --- picking ----------------------------------------------------------------------------------


def _pick_page(
    shown: DistributionRequest, form: PickForm | None = None, status: int = 200
) -> ResponseReturnValue:
    listed = picking.pick_list(current_actor(), shown)
    return render_template(
        "distribution/pick.html",
        req=shown,
        protocol=shown.protocol,
        listed=listed,
        form=form or PickForm(formdata=None),
        may_aliquot=policy.can(current_actor(), policy.Action.HANDLE_SAMPLES),
        links=_pick_and_ship_links(shown),
    ), status


@bp.get("/requests/<int:request_id>/pick")
def pick_list(request_id: int):
    """The pick list in walking order, with a scan box to pick by."""
    return _pick_page(requests.get_request(current_actor(), request_id))


def _pick_and_say(actor, shown: DistributionRequest, form: PickForm) -> picking.Picked:
    """Pick; a wrong tube's refusal (what it is, where the right one is) goes beside the
    scan field, where the technician looks."""
    return _scanned_beside(
        lambda: picking.pick(actor, shown, form.barcode.data or "", aliquot_ml=form.aliquot())
    )


@bp.post("/requests/<int:request_id>/pick")
def pick(request_id: int):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    form = PickForm()
    return submit(
        form,
        lambda: _pick_and_say(actor, shown, form),
        done=lambda picked: _picked(shown, picked),
        again=lambda status: _pick_page(shown, form, status),
    )


def _picked(shown: DistributionRequest, picked: picking.Picked) -> ResponseReturnValue:
    flash(picked.message, "warning" if picked.already else "success")
    return redirect(url_for(".pick_list", request_id=shown.id))


@bp.get("/requests/<int:request_id>/pick-list.<any(pdf, csv):fmt>")
def pick_list_document(request_id: int, fmt: str):
    """The pick list to print (PDF, opened in the browser) or for a spreadsheet (CSV)."""
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    name = f"pick-list-request-{shown.id}.{fmt}"
    if fmt == "pdf":
        return send_printable_pdf(picking.pick_list_pdf(actor, shown), name)
    return send_document(
        picking.pick_list_csv(actor, shown).encode(),
        media_type="text/csv",
        filename=name,
        attachment=True,
    )


# --- the outbound shipment ------------------------------------------------------------------


@dataclass
class OutboundForms(PageForms):
    pack: OutboundPackForm
    dispatch: DispatchForm
    returns: ReturnForm
    cancel: CancelShipmentForm


def _outbound_page(
    shown: DistributionRequest, forms: OutboundForms | None = None, status: int = 200
) -> ResponseReturnValue:
    actor = current_actor()
    shipment = outbound_service.shipment_of(shown)
    items = outbound_service.packed_items(shipment) if shipment is not None else []
    return render_template(
        "distribution/outbound.html",
        req=shown,
        protocol=shown.protocol,
        shipment=shipment,
        number=outbound_service.number(shipment) if shipment is not None else None,
        items=items,
        cancelled=outbound_service.cancelled_shipments(shown),
        picked=picking.pick_list(actor, shown).picked if shown.status in picking.PICKABLE else None,
        forms=forms or OutboundForms.blank(),
        may_ship=policy.can(actor, policy.Action.PICK_AND_SHIP),
    ), status


def _outbound_again(shown: DistributionRequest, name: str, form: PageForm) -> Callable:
    def again(status: int) -> ResponseReturnValue:
        return _outbound_page(shown, OutboundForms.blank().keep(name, form), status)

    return again


def _to_outbound(shown: DistributionRequest, message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for(".outbound", request_id=shown.id))


def _shipment(actor, shown: DistributionRequest):
    """The request's outbound shipment, or a 404 when none is open yet."""
    shipment = outbound_service.shipment_of(shown)
    if shipment is None:
        raise NotFound(f"Request {shown.id} has no outbound shipment yet: open it first.")
    return shipment


@bp.get("/requests/<int:request_id>/shipment")
def outbound(request_id: int):
    """The request's outbound shipment: pack by scanning, dispatch (signed), the manifest,
    and returns."""
    return _outbound_page(requests.get_request(current_actor(), request_id))


@bp.post("/requests/<int:request_id>/shipment")
def open_outbound(request_id: int):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    form = PageForm()
    return submit(
        form,
        lambda: outbound_service.open_shipment(actor, shown),
        done=lambda opened: _to_outbound(
            shown,
            f"Shipment {outbound_service.number(opened)} to {opened.institution} is open: scan "
            "the picked tubes into the box.",
        ),
        again=lambda status: _outbound_page(shown, status=status),
    )


def _scanned_beside(call: Callable[[], Any]) -> Any:
    """A refused scan (a tube not picked, not of this request) is said beside the scan
    field, where the person looks (``submit_scan`` does the same for an unknown tube)."""
    try:
        return call()
    except Conflict as refused:
        if refused.errors:
            raise
        raise type(refused)(
            refused.detail, errors={"barcode": [refused.detail]}, **refused.extra
        ) from None


@bp.post("/requests/<int:request_id>/shipment/items")
def pack_outbound(request_id: int):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    shipment = _shipment(actor, shown)
    form = OutboundPackForm()
    return submit_scan(
        form,
        form.barcode,
        lambda: _scanned_beside(
            lambda: outbound_service.pack(actor, shipment, form.barcode.data or "")
        ),
        done=lambda packed: _to_outbound(
            shown, packed.message, "success" if packed.added else "warning"
        ),
        again=_outbound_again(shown, "pack", form),
    )


@bp.post("/requests/<int:request_id>/shipment/items/<barcode>/remove")
def unpack_outbound(request_id: int, barcode: str):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    shipment = _shipment(actor, shown)
    return submit_scan(
        UnpackForm(),
        None,
        lambda: outbound_service.unpack(actor, shipment, barcode),
        done=lambda _: _to_outbound(
            shown, f"Took {ids.display(barcode)} out of the shipment: it stays picked.", "info"
        ),
        again=lambda status: _outbound_page(shown, status=status),
    )


@bp.post("/requests/<int:request_id>/shipment/dispatch")
def dispatch_outbound(request_id: int):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    shipment = _shipment(actor, shown)
    form = DispatchForm()
    return submit(
        form,
        lambda: outbound_service.dispatch(
            actor,
            shipment,
            carrier=form.carrier.data or "",
            tracking_number=form.tracking_number.data or "",
            signature_password=form.signature_password.data,
            client_address=request.remote_addr,
        ),
        done=lambda sent: _to_outbound(shown, _dispatched_words(sent)),
        again=_outbound_again(shown, "dispatch", form),
    )


@bp.post("/requests/<int:request_id>/shipment/cancel")
def cancel_outbound(request_id: int):
    """Call off the shipment before dispatch, with a reason: its tubes stay picked."""
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    shipment = _shipment(actor, shown)
    form = CancelShipmentForm()
    return submit(
        form,
        lambda: outbound_service.cancel_shipment(actor, shipment, form.reason.data),
        done=lambda called_off: _to_outbound(
            shown,
            f"Shipment {outbound_service.number(called_off.shipment)} is cancelled"
            + (
                f"; {counted(len(called_off.unpacked), 'tube')} taken out, still picked for "
                f"request {shown.id}: {_named(called_off.unpacked)}."
                if called_off.unpacked
                else "."
            ),
            "info",
        ),
        again=_outbound_again(shown, "cancel", form),
    )


def _dispatched_words(sent: outbound_service.Dispatched) -> str:
    said = (
        f"Shipment {outbound_service.number(sent.shipment)} is on its way to "
        f"{sent.shipment.institution}: {counted(len(sent.tubes), 'tube')} distributed, their "
        "positions freed. Print the manifest for the box."
    )
    if sent.released:
        said += f" Not picked, so released: {_named(sent.released)}."
    return said


@bp.post("/requests/<int:request_id>/shipment/returns")
def receive_return(request_id: int):
    actor = current_actor()
    shown = requests.get_request(actor, request_id)
    shipment = _shipment(actor, shown)
    form = ReturnForm()
    return submit_scan(
        form,
        form.barcode,
        lambda: _scanned_beside(
            lambda: outbound_service.receive_return(
                actor, shipment, form.barcode.data or "", form.reason.data
            )
        ),
        done=lambda back: _to_outbound(
            shown, back.message, "warning" if back.already else "success"
        ),
        again=_outbound_again(shown, "returns", form),
    )


@bp.get("/requests/<int:request_id>/shipment/manifest.<any(pdf, csv):fmt>")
def outbound_manifest(request_id: int, fmt: str):
    """The manifest under study pseudonyms: to print (PDF) or for the study (CSV)."""
    actor = current_actor()
    shipment = _shipment(actor, requests.get_request(actor, request_id))
    name = f"manifest-{outbound_service.number(shipment)}.{fmt}"
    if fmt == "pdf":
        return send_printable_pdf(outbound_service.manifest_pdf(actor, shipment), name)
    return send_document(
        outbound_service.manifest_csv(actor, shipment).encode(),
        media_type="text/csv",
        filename=name,
        attachment=True,
    )


def display_ids(barcodes: list[str] | None) -> list[str]:
    return [ids.display(barcode) for barcode in barcodes or []]


bp.add_app_template_filter(display_ids, "display_ids")
