from __future__ import annotations

from flask import Response, jsonify, stream_with_context

from biobank.api.common import API_PREFIX, Blueprint
from biobank.api.samples import sample_filters
from biobank.schemas.samples import SampleQuerySchema
from biobank.security import current_actor
from biobank.services.core import samples
from biobank.services.reporting import interop
from biobank.services.shipping import sending

blp = Blueprint(
    "api_interop",
    __name__,
    url_prefix=API_PREFIX,
    description="FHIR R4 and CSV for the program's other systems",
)

FHIR_JSON = "application/fhir+json"
FHIR_RESPONSE = {"content": {FHIR_JSON: {"schema": {"type": "object"}}}}
CSV_RESPONSE = {"content": {"text/csv": {"schema": {"type": "string"}}}}


def fhir_document(resource: dict) -> Response:
    response = jsonify(resource)
    response.mimetype = FHIR_JSON
    return response


@blp.get("/samples/<barcode>/fhir")
@blp.doc(responses={"200": {"description": "A FHIR R4 Specimen", **FHIR_RESPONSE}})
@blp.problems(401, 404, 422)
def sample_fhir(barcode: str):
    """The tube as a FHIR R4 Specimen (subject: the pseudonymous participant ID only)."""
    return fhir_document(interop.specimen_resource(samples.get_sample(current_actor(), barcode)))


@blp.get("/shipments/<id:shipment_id>/fhir")
@blp.doc(responses={"200": {"description": "A FHIR R4 Bundle of Specimens", **FHIR_RESPONSE}})
@blp.problems(401, 404)
def shipment_fhir(shipment_id: int):
    """The shipment's manifested tubes as a FHIR R4 Bundle: each tube only for whoever may see
    it, so a biobank reads an incoming shipment's tubes once it is dispatched."""
    actor = current_actor()
    return fhir_document(interop.shipment_bundle(actor, sending.get_shipment(actor, shipment_id)))


@blp.get("/exports/samples.csv")
@blp.arguments(SampleQuerySchema, location="query")
@blp.doc(
    responses={"200": {"description": "Tubes as CSV (a barcode column first)", **CSV_RESPONSE}}
)
@blp.problems(401, 422)
def samples_csv(args):
    """Every tube visible to you, with the sample list's filters, as CSV (streamed)."""
    actor = current_actor()
    stmt = interop.export_query(actor, **sample_filters(args))
    response = Response(stream_with_context(interop.samples_csv(stmt)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="samples.csv"'
    return response
