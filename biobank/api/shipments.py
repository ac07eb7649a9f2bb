from __future__ import annotations

from flask import request

from biobank.api.collections import PDF_RESPONSE
from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.api.idempotency import answer_with_the_write
from biobank.downloads import send_printable_pdf
from biobank.schemas.common import page_schema
from biobank.schemas.samples import ReasonSchema
from biobank.schemas.shipments import (
    BarcodeSchema,
    DispatchSchema,
    PackResultSchema,
    ReceiptCloseSchema,
    ReceiptScanSchema,
    ReceiptSchema,
    ScanResultSchema,
    ShipmentCreateSchema,
    ShipmentQuerySchema,
    ShipmentSchema,
    UndoneScanSchema,
    UndoScanSchema,
)
from biobank.security import current_actor
from biobank.services.core.pages import Page
from biobank.services.core.sites import site_field
from biobank.services.shipping import receiving, sending
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_shipments",
    __name__,
    url_prefix=f"{API_PREFIX}/shipments",
    description="Shipments: packing, dispatch, manifests and receiving",
)


@blp.get("")
@blp.arguments(ShipmentQuerySchema, location="query")
@blp.response(200, page_schema(ShipmentSchema))
@blp.problems(401, 404, 422)
def list_shipments(args):
    """Shipments from or to your site (all sites for coordinators); `manifest_number` finds one."""
    actor = current_actor()
    if args.get("manifest_number"):
        found = sending.find_by_manifest(actor, args["manifest_number"])
        return page_body(Page([found], total=1, page=1, per_page=args["per_page"]))
    page: Page = sending.list_shipments(
        actor,
        status=args.get("status"),
        origin=site_field(args["origin"], "origin") if args.get("origin") else None,
        destination=site_field(args["destination"], "destination")
        if args.get("destination")
        else None,
        page=args["page"],
        per_page=args["per_page"],
    )
    return page_body(page)


@blp.post("")
@blp.arguments(ShipmentCreateSchema)
@blp.response(201, ShipmentSchema)
@blp.problems(401, 403, 422)
def open_shipment(body):
    """Open a shipment from your site to a biobank."""
    actor = current_actor()
    with unit_of_work():
        origin = site_field(body["origin"], "origin") if body.get("origin") else None
        shipment = sending.open_shipment(
            actor, destination=body["destination"], temperature=body["temperature"], origin=origin
        )
    return shipment


@blp.get("/<id:shipment_id>")
@blp.response(200, ShipmentSchema)
@blp.problems(401, 404)
def get_shipment(shipment_id: int):
    return sending.get_shipment(current_actor(), shipment_id)


@blp.post("/<id:shipment_id>/items")
@blp.arguments(BarcodeSchema)
@blp.response(201, PackResultSchema, description="The tube was added.")
@blp.alt_response(200, schema=PackResultSchema, description="The tube was in already.")
@blp.problems(401, 403, 404, 409, 422)
def pack(body, shipment_id: int):
    """Pack a scanned tube. Scanning it again answers 200 and adds nothing."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id)
        result = sending.pack_sample(actor, shipment, body["barcode"])
        answer = {
            "barcode": result.item.sample.barcode,
            "tube_type": result.item.sample.tube_type.code,
            "added": result.added,
            "items": len(shipment.items),
        }
    return answer, 201 if result.added else 200


@blp.delete("/<id:shipment_id>/items/<barcode>")
@blp.response(204)
@blp.problems(401, 403, 404, 409, 422)
def unpack(shipment_id: int, barcode: str):
    """Take a tube out of an open shipment."""
    actor = current_actor()
    with unit_of_work():
        sending.unpack_sample(actor, sending.get_shipment(actor, shipment_id), barcode)


@blp.post("/<id:shipment_id>/dispatch")
@blp.arguments(DispatchSchema)
@blp.response(200, ShipmentSchema)
@blp.problems(401, 403, 404, 409, 422)
def dispatch(body, shipment_id: int):
    """Hand over to the carrier: tubes go in transit; nothing can be added afterwards."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id, lock=True)
        sending.dispatch_shipment(actor, shipment, client_address=request.remote_addr, **body)
    return shipment


@blp.post("/<id:shipment_id>/cancel")
@blp.arguments(ReasonSchema)
@blp.response(200, ShipmentSchema)
@blp.problems(401, 403, 404, 409, 422)
def cancel(body, shipment_id: int):
    """Abandon an open shipment; its tubes can go in another."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id, lock=True)
        sending.cancel_shipment(actor, shipment, body["reason"])
    return shipment


@blp.get("/<id:shipment_id>/manifest.pdf")
@blp.doc(responses={"200": {"description": "The manifest as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 409)
def manifest(shipment_id: int):
    """The manifest: barcode, tubes, totals, carrier, UN3373 marking, signatures."""
    actor = current_actor()
    shipment = sending.get_shipment(actor, shipment_id)
    return send_printable_pdf(
        sending.manifest_pdf(actor, shipment), f"manifest-{shipment.manifest_number}.pdf"
    )


def _receipt(shipment):
    return {
        "shipment": shipment,
        "counts": receiving.receipt_counts(shipment),
        "missing": receiving.tubes_still_missing(shipment),
    }


@blp.post("/<id:shipment_id>/receipt")
@blp.response(200, ReceiptSchema)
@blp.problems(401, 403, 404, 409)
def open_receipt(shipment_id: int):
    """Start receiving (what scanning the manifest barcode does); safe to repeat."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id)
        receiving.open_receipt(actor, shipment)
    return _receipt(shipment)


@blp.get("/<id:shipment_id>/receipt")
@blp.response(200, ReceiptSchema)
@blp.problems(401, 404)
def receipt(shipment_id: int):
    """Counts so far and the tubes still to scan."""
    return _receipt(sending.get_shipment(current_actor(), shipment_id))


# Made once: a schema's instance copies its declared fields, work a scan need not repeat.
SCAN_RESULT = ScanResultSchema()


@blp.post("/<id:shipment_id>/receipt/scans")
@blp.arguments(ReceiptScanSchema)
@blp.response(200, ScanResultSchema)
@blp.problems(401, 403, 404, 409, 422)
def scan(body, shipment_id: int):
    """One scanned tube → expected, duplicate or unexpected, with live counts."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id, lock=True, with_items=False)
        result = receiving.receive_scan(
            actor, shipment, body["barcode"], damaged=body["damaged"], note=body.get("note")
        )
        answer = answer_with_the_write(SCAN_RESULT, result)
    return result if answer is None else answer


@blp.post("/<id:shipment_id>/receipt/scans/undo")
@blp.arguments(UndoScanSchema)
@blp.response(200, UndoneScanSchema)
@blp.problems(401, 403, 404, 409, 422)
def undo_scan(body, shipment_id: int):
    """Undo a scan made in error while the receipt is open, with a reason: the tube is as it
    was before the scan, and the undoing is its own custody event."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id, lock=True, with_items=False)
        undone = receiving.undo_scan(actor, shipment, body["barcode"], body["reason"])
    return undone


@blp.post("/<id:shipment_id>/receipt/close")
@blp.arguments(ReceiptCloseSchema)
@blp.response(200, ShipmentSchema)
@blp.problems(401, 403, 404, 409, 422)
def close_receipt(body, shipment_id: int):
    """Close: unscanned tubes become missing; received or received with discrepancies."""
    actor = current_actor()
    with unit_of_work():
        shipment = sending.get_shipment(actor, shipment_id, lock=True)
        receiving.close_receipt(actor, shipment, client_address=request.remote_addr, **body)
    return shipment
