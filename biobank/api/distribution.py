"""Distribution to approved research (issue 20): study protocols, the requests recorded under
them, the tubes proposed for a request and their reservation, picking and the outbound
shipment. Coordinators record and approve; the biobank's technicians read, pick and ship;
clinic staff and admins have nothing here (403, as on the distribution pages); another
biobank's protocols, requests and shipments answer 404."""

from __future__ import annotations

from flask import request as http

from biobank.api.collections import PDF_RESPONSE
from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.downloads import send_document, send_printable_pdf, send_report
from biobank.errors import Forbidden
from biobank.models import DistributionProtocol, DistributionRequest, DistributionShipment, User
from biobank.schemas.common import page_schema
from biobank.schemas.distribution import (
    ApprovalCreateSchema,
    ApprovalSchema,
    CancelledSchema,
    DispatchedSchema,
    OutboundDispatchSchema,
    OutboundPackedSchema,
    OutboundSchema,
    PickCreateSchema,
    PickedSchema,
    PickListSchema,
    ProposalSchema,
    ProtocolCreateSchema,
    ProtocolQuerySchema,
    ProtocolReportSchema,
    ProtocolSchema,
    ReleasedSchema,
    ReleaseSchema,
    RequestCreateSchema,
    RequestDetailSchema,
    RequestQuerySchema,
    RequestSchema,
    ReturnCreateSchema,
    ReturnedSchema,
)
from biobank.schemas.samples import ReasonSchema
from biobank.schemas.shipments import BarcodeSchema
from biobank.security import current_actor
from biobank.services.core import policy
from biobank.services.core.sites import optional_site_field
from biobank.services.distribution import outbound, picking, protocols, report, requests
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_distribution",
    __name__,
    url_prefix=f"{API_PREFIX}/distribution",
    description="Distribution to approved research: study protocols, requests, the tubes "
    "proposed for a request and their reservation, picking, and the outbound shipment to the "
    "study under study pseudonyms",
)

REQUEST = "/protocols/<id:protocol_id>/requests/<id:request_id>"
CSV_RESPONSE = {"content": {"text/csv": {"schema": {"type": "string"}}}}


@blp.before_request
def require_distribution_role() -> None:
    """Coordinators (who record and approve) and technicians (who pick and ship) only: a 403
    on every route for the others, whatever the record (a missing token is still a 401)."""
    actor = current_actor()
    if not (
        policy.can(actor, policy.Action.DISTRIBUTE)
        or policy.can(actor, policy.Action.PICK_AND_SHIP)
    ):
        raise Forbidden(
            "Distribution to research is for the biobank's coordinators and technicians."
        )


def _request(actor: User, protocol_id: int, request_id: int) -> DistributionRequest:
    protocol = protocols.get_protocol(actor, protocol_id)
    return requests.get_request(actor, request_id, protocol=protocol)


# --- protocols -----------------------------------------------------------------------------------


@blp.get("/protocols")
@blp.arguments(ProtocolQuerySchema, location="query")
@blp.response(200, page_schema(ProtocolSchema))
@blp.problems(401, 403, 422)
def list_protocols(args):
    """Your biobank's study protocols, newest first (every biobank's for coordinators);
    filter by `status`, `site` or `approval_number`."""
    return page_body(
        protocols.find_protocols(
            current_actor(),
            status=args.get("status"),
            site=optional_site_field(args.get("site")),
            approval_number=args.get("approval_number"),
            page=args["page"],
            per_page=args["per_page"],
        )
    )


@blp.post("/protocols")
@blp.arguments(ProtocolCreateSchema)
@blp.response(201, ProtocolSchema)
@blp.problems(401, 403, 422)
def create_protocol(body):
    """Record a study approved to receive material (coordinator): its approval and expiry,
    the receiving institution and the specimen kinds it may receive."""
    with unit_of_work():
        protocol = protocols.create_protocol(current_actor(), **body)
    return protocol


@blp.get("/protocols/<id:protocol_id>")
@blp.response(200, ProtocolSchema)
@blp.problems(401, 403, 404)
def get_protocol(protocol_id: int):
    return protocols.get_protocol(current_actor(), protocol_id)


@blp.post("/protocols/<id:protocol_id>/close")
@blp.arguments(ReasonSchema)
@blp.response(200, ProtocolSchema)
@blp.problems(401, 403, 404, 409, 422)
def close_protocol(body, protocol_id: int):
    """No more requests under this protocol; approved requests keep their tubes until
    released. A closed protocol is a 409."""
    actor = current_actor()
    with unit_of_work():
        protocol: DistributionProtocol = protocols.get_protocol(actor, protocol_id)
        protocols.close_protocol(actor, protocol, body["reason"])
    return protocol


@blp.get("/protocols/<id:protocol_id>/report")
@blp.response(200, ProtocolReportSchema)
@blp.problems(401, 403, 404)
def protocol_report(protocol_id: int):
    """Per request and in total: tubes requested, reserved, picked, shipped, returned and
    released under the protocol."""
    actor = current_actor()
    return report.protocol_report(actor, protocols.get_protocol(actor, protocol_id))


@blp.get("/protocols/<id:protocol_id>/report.csv")
@blp.doc(responses={"200": {"description": "The report as CSV", **CSV_RESPONSE}})
@blp.problems(401, 403, 404)
def protocol_report_csv(protocol_id: int):
    actor = current_actor()
    table = report.report_table(actor, protocols.get_protocol(actor, protocol_id))
    return send_report(table, "csv", zone=actor.site.timezone)


@blp.get("/protocols/<id:protocol_id>/report.pdf")
@blp.doc(responses={"200": {"description": "The report as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404)
def protocol_report_pdf(protocol_id: int):
    actor = current_actor()
    table = report.report_table(actor, protocols.get_protocol(actor, protocol_id))
    return send_report(table, "pdf", zone=actor.site.timezone)


# --- requests ------------------------------------------------------------------------------------


@blp.get("/protocols/<id:protocol_id>/requests")
@blp.arguments(RequestQuerySchema, location="query")
@blp.response(200, page_schema(RequestSchema))
@blp.problems(401, 403, 404, 422)
def list_requests(args, protocol_id: int):
    """The protocol's requests, newest first; filter by `status`."""
    actor = current_actor()
    return page_body(
        requests.list_requests(actor, protocols.get_protocol(actor, protocol_id), **args)
    )


@blp.post("/protocols/<id:protocol_id>/requests")
@blp.arguments(RequestCreateSchema)
@blp.response(201, RequestDetailSchema)
@blp.problems(401, 403, 404, 409, 422)
def record_request(body, protocol_id: int):
    """Record what a study asked for, as a draft (coordinator). A closed protocol, or one
    whose approval has expired, is a 409."""
    actor = current_actor()
    with unit_of_work():
        request = requests.record_request(actor, protocols.get_protocol(actor, protocol_id), **body)
    return request


@blp.get(REQUEST)
@blp.response(200, RequestDetailSchema)
@blp.problems(401, 403, 404)
def get_request(protocol_id: int, request_id: int):
    """A request, with the sample IDs reserved for it now."""
    return _request(current_actor(), protocol_id, request_id)


@blp.get(f"{REQUEST}/proposal")
@blp.response(200, ProposalSchema)
@blp.problems(401, 403, 404)
def proposal(protocol_id: int, request_id: int):
    """The tubes that would go to the request now, and what is short (coordinator). Nothing
    is reserved: approve to reserve them."""
    actor = current_actor()
    return requests.propose(actor, _request(actor, protocol_id, request_id))


@blp.post(f"{REQUEST}/approval")
@blp.arguments(ApprovalCreateSchema)
@blp.response(201, ApprovalSchema, description="Every chosen tube was reserved.")
@blp.alt_response(
    200,
    schema=ApprovalSchema,
    description="Some chosen tubes were reserved; `taken` names those another request "
    "reserved meanwhile, `unavailable` those that no longer match.",
)
@blp.problems(401, 403, 404, 409, 422)
def approve(body, protocol_id: int, request_id: int):
    """Approve a draft request and reserve its tubes (coordinator): `sample_ids` chosen from
    the proposal, or the proposal as it stands now. Race-safe: a tube is reserved for one
    request only. 409 when none of the tubes could be reserved (the request stays a draft;
    `taken` and `unavailable` say why), or when the request is not a draft."""
    actor = current_actor()
    with unit_of_work():
        approval = requests.approve(
            actor, _request(actor, protocol_id, request_id), body.get("sample_ids")
        )
    return approval, 200 if approval.taken or approval.unavailable else 201


@blp.post(f"{REQUEST}/release")
@blp.arguments(ReleaseSchema)
@blp.response(200, ReleasedSchema)
@blp.problems(401, 403, 404, 409, 422)
def release(body, protocol_id: int, request_id: int):
    """Put reserved tubes back on the shelf (all, or `sample_ids`), with a reason; each gets
    a `released` custody event."""
    actor = current_actor()
    with unit_of_work():
        request = _request(actor, protocol_id, request_id)
        released = requests.release(actor, request, body["reason"], barcodes=body.get("sample_ids"))
    return {"request": request, "released": released}


@blp.post(f"{REQUEST}/cancel")
@blp.arguments(ReasonSchema)
@blp.response(200, ReleasedSchema)
@blp.problems(401, 403, 404, 409, 422)
def cancel(body, protocol_id: int, request_id: int):
    """Cancel a request that has not shipped, with a reason; its reserved tubes are released."""
    actor = current_actor()
    with unit_of_work():
        request = _request(actor, protocol_id, request_id)
        released = requests.cancel_request(actor, request, body["reason"])
    return {"request": request, "released": released}


# --- picking -------------------------------------------------------------------------------------


@blp.get(f"{REQUEST}/pick-list")
@blp.response(200, PickListSchema)
@blp.problems(401, 403, 404, 409)
def pick_list(protocol_id: int, request_id: int):
    """The approved request's reserved tubes in the order to walk the freezers (freezer,
    racks or shelves, box, position), each marked picked or not, and the next to pick. A
    request that is not approved (or being picked) is a 409."""
    actor = current_actor()
    return picking.pick_list(actor, _request(actor, protocol_id, request_id))


@blp.get(f"{REQUEST}/pick-list.csv")
@blp.doc(
    responses={
        "200": {
            "description": "The pick list as CSV (sample_id, tube_type, volume_ml, freezer, "
            "path, box, position, picked)",
            **CSV_RESPONSE,
        }
    }
)
@blp.problems(401, 403, 404, 409)
def pick_list_csv(protocol_id: int, request_id: int):
    actor = current_actor()
    request = _request(actor, protocol_id, request_id)
    return send_document(
        picking.pick_list_csv(actor, request).encode(),
        media_type="text/csv",
        filename=f"pick-list-request-{request.id}.csv",
        attachment=True,
    )


@blp.get(f"{REQUEST}/pick-list.pdf")
@blp.doc(responses={"200": {"description": "The pick list to print", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 409)
def pick_list_pdf(protocol_id: int, request_id: int):
    """The pick list to print: sample ID, tube, volume, freezer path, box, position and a
    check box per tube; no participant."""
    actor = current_actor()
    request = _request(actor, protocol_id, request_id)
    return send_printable_pdf(
        picking.pick_list_pdf(actor, request), f"pick-list-request-{request.id}.pdf"
    )


@blp.post(f"{REQUEST}/picks")
@blp.arguments(PickCreateSchema)
@blp.response(201, PickedSchema, description="The tube was picked (checked out for the study).")
@blp.alt_response(200, schema=PickedSchema, description="The tube was picked already.")
@blp.problems(401, 403, 404, 409, 422)
def pick(body, protocol_id: int, request_id: int):
    """Pick a scanned tube (technicians and coordinators): checked out of its freezer, its
    position held until dispatch. The same tube again answers 200 and records nothing; a
    tube not reserved for this request is a 409 saying what it is and where the next tube
    is (`next`). `aliquot_ml`: a new child of that volume goes to the study instead."""
    actor = current_actor()
    with unit_of_work():
        picked = picking.pick(
            actor,
            _request(actor, protocol_id, request_id),
            body["barcode"],
            aliquot_ml=body.get("aliquot_ml"),
        )
    return picked, 200 if picked.already else 201


# --- outbound shipments ---------------------------------------------------------------------------

SHIPMENT = "/shipments/<id:shipment_id>"


def _outbound(actor: User, shipment: DistributionShipment) -> dict:
    return {"shipment": shipment, "tubes": outbound.manifest_rows(actor, shipment)}


@blp.post(f"{REQUEST}/shipment")
@blp.response(201, OutboundSchema, description="The request's shipment was opened.")
@blp.alt_response(200, schema=OutboundSchema, description="It was open already.")
@blp.problems(401, 403, 404, 409)
def open_shipment(protocol_id: int, request_id: int):
    """Open the request's one outbound shipment to its protocol's institution (technicians
    and coordinators), once a tube is picked; asking again answers the same shipment."""
    actor = current_actor()
    with unit_of_work():
        request = _request(actor, protocol_id, request_id)
        existed = outbound.shipment_of(request) is not None
        shipment = outbound.open_shipment(actor, request)
    return _outbound(actor, shipment), 200 if existed else 201


@blp.get(SHIPMENT)
@blp.response(200, OutboundSchema)
@blp.problems(401, 403, 404)
def get_shipment(shipment_id: int):
    """An outbound shipment and its tubes, each under its study pseudonym."""
    actor = current_actor()
    return _outbound(actor, outbound.get_shipment(actor, shipment_id))


@blp.post(f"{SHIPMENT}/items")
@blp.arguments(BarcodeSchema)
@blp.response(201, OutboundPackedSchema, description="The tube was packed.")
@blp.alt_response(200, schema=OutboundPackedSchema, description="It was packed already.")
@blp.problems(401, 403, 404, 409, 422)
def pack(body, shipment_id: int):
    """Pack a scanned tube: a picked tube of the shipment's request, not quarantined (409
    otherwise, saying why). The same tube again answers 200 and records nothing."""
    actor = current_actor()
    with unit_of_work():
        packed = outbound.pack(actor, outbound.get_shipment(actor, shipment_id), body["barcode"])
    return packed, 201 if packed.added else 200


@blp.delete(f"{SHIPMENT}/items/<barcode>")
@blp.response(204)
@blp.problems(401, 403, 404, 409, 422)
def unpack(shipment_id: int, barcode: str):
    """Take a tube out of an open shipment; it stays picked for the request."""
    actor = current_actor()
    with unit_of_work():
        outbound.unpack(actor, outbound.get_shipment(actor, shipment_id), barcode)


@blp.post(f"{SHIPMENT}/dispatch")
@blp.arguments(OutboundDispatchSchema)
@blp.response(200, DispatchedSchema)
@blp.problems(401, 403, 404, 409, 422)
def dispatch(body, shipment_id: int):
    """Hand the package to the carrier, signed (re-enter your password): every packed tube
    leaves its freezer position and is distributed; the request's tubes never picked are
    released (`released`); the request is shipped. A second dispatch is a 409."""
    actor = current_actor()
    with unit_of_work():
        dispatched = outbound.dispatch(
            actor,
            outbound.get_shipment(actor, shipment_id),
            client_address=http.remote_addr,
            **body,
        )
    return {**_outbound(actor, dispatched.shipment), "released": dispatched.released}


@blp.post(f"{SHIPMENT}/cancel")
@blp.arguments(ReasonSchema)
@blp.response(200, CancelledSchema)
@blp.problems(401, 403, 404, 409, 422)
def cancel_shipment(body, shipment_id: int):
    """Call off a shipment not dispatched yet, with a reason (technicians and coordinators):
    its packed tubes are taken out (`unpacked`) and stay picked and reserved for the request,
    which may open another shipment. A shipment dispatched, or cancelled already, is a 409."""
    actor = current_actor()
    with unit_of_work():
        cancelled = outbound.cancel_shipment(
            actor, outbound.get_shipment(actor, shipment_id), body["reason"]
        )
    return {**_outbound(actor, cancelled.shipment), "unpacked": cancelled.unpacked}


@blp.get(f"{SHIPMENT}/manifest.pdf")
@blp.doc(responses={"200": {"description": "The manifest to send with the tubes", **PDF_RESPONSE}})
@blp.problems(401, 403, 404)
def manifest_pdf(shipment_id: int):
    """The manifest: the institution, carrier and tracking number, each tube under its study
    pseudonym (never a participant ID)."""
    actor = current_actor()
    shipment = outbound.get_shipment(actor, shipment_id)
    return send_printable_pdf(
        outbound.manifest_pdf(actor, shipment), f"manifest-{outbound.number(shipment)}.pdf"
    )


@blp.get(f"{SHIPMENT}/manifest.csv")
@blp.doc(
    responses={
        "200": {
            "description": "The manifest as CSV (study_pseudonym, sample_id, tube_type, "
            "volume_ml, collected_on, returned)",
            **CSV_RESPONSE,
        }
    }
)
@blp.problems(401, 403, 404)
def manifest_csv(shipment_id: int):
    actor = current_actor()
    shipment = outbound.get_shipment(actor, shipment_id)
    return send_document(
        outbound.manifest_csv(actor, shipment).encode(),
        media_type="text/csv",
        filename=f"manifest-{outbound.number(shipment)}.csv",
        attachment=True,
    )


@blp.post(f"{SHIPMENT}/returns")
@blp.arguments(ReturnCreateSchema)
@blp.response(201, ReturnedSchema, description="The tube is received back: store it.")
@blp.alt_response(200, schema=ReturnedSchema, description="It was returned already.")
@blp.problems(401, 403, 404, 409, 422)
def receive_return(body, shipment_id: int):
    """Take back a tube of a dispatched shipment that the study did not use, with a reason:
    received at the biobank again, to be stored as any received tube."""
    actor = current_actor()
    with unit_of_work():
        returned = outbound.receive_return(
            actor, outbound.get_shipment(actor, shipment_id), body["barcode"], body["reason"]
        )
    return returned, 200 if returned.already else 201
