"""What leaves the biobank with a distribution, for other systems: the tubes a request sent
to its study as a FHIR R4 Bundle, under study pseudonyms (never participant IDs).
Coordinators and technicians of the protocol's biobank; clinic staff and admins 403; another
biobank's request 404."""

from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint
from biobank.api.interop import FHIR_RESPONSE, fhir_document
from biobank.errors import Forbidden
from biobank.security import current_actor
from biobank.services.distribution import fhir_export, outbound, protocols, report, requests

blp = Blueprint(
    "api_distribution_exports",
    __name__,
    url_prefix=f"{API_PREFIX}/distribution",
    description="A distribution as FHIR R4 for the program's other systems",
)
BUNDLE_RESPONSES = {
    "200": {
        "description": "A FHIR R4 Bundle: the institution and the Specimens sent",
        **FHIR_RESPONSE,
    }
}


@blp.before_request
def require_distribution_role() -> None:
    """Clinic staff and admins: a 403 whatever the record (a missing token is still a 401)."""
    if not report.may_read(current_actor()):
        raise Forbidden(
            "Distribution to research is for the biobank's coordinators and technicians."
        )


@blp.get("/protocols/<id:protocol_id>/requests/<id:request_id>/fhir")
@blp.doc(responses=BUNDLE_RESPONSES)
@blp.problems(401, 403, 404, 409)
def distribution_fhir(protocol_id: int, request_id: int):
    """The tubes the request sent to its study as a FHIR R4 Bundle (type collection): an
    Organization for the receiving institution and a Specimen per tube, its subject the study
    pseudonym. 409 until the request's shipment is dispatched."""
    actor = current_actor()
    protocol = protocols.get_protocol(actor, protocol_id)
    request = requests.get_request(actor, request_id, protocol=protocol)
    return fhir_document(fhir_export.distribution_bundle(actor, request))


@blp.get("/shipments/<id:shipment_id>/fhir")
@blp.doc(responses=BUNDLE_RESPONSES)
@blp.problems(401, 403, 404, 409)
def distribution_shipment_fhir(shipment_id: int):
    """The same Bundle, found by the outbound shipment: 409 while it is open, and for one
    cancelled before dispatch (it sent nothing)."""
    actor = current_actor()
    shipment = outbound.get_shipment(actor, shipment_id)
    return fhir_document(fhir_export.shipment_bundle(actor, shipment))
