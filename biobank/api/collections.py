from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.downloads import send_print_job
from biobank.schemas.collections import (
    AmendSchema,
    CollectedSchema,
    CollectionCreateSchema,
    CollectionQuerySchema,
    CollectionSchema,
    FinalizeSchema,
    LabelQuerySchema,
    ProcessedSchema,
)
from biobank.schemas.common import page_schema
from biobank.schemas.samples import ReasonSchema
from biobank.security import current_actor
from biobank.services.collecting import collections, labelling
from biobank.services.collecting.collections import TubeCorrection
from biobank.services.core.sites import optional_site_field, site_field
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_collections",
    __name__,
    url_prefix=f"{API_PREFIX}/collections",
    description="Clinic collections (biobank orders) and their labels",
)

PDF_RESPONSE = {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
ZPL_RESPONSE = {
    "content": {"application/vnd.zebra-zpl": {"schema": {"type": "string", "format": "binary"}}}
}


@blp.get("")
@blp.arguments(CollectionQuerySchema, location="query")
@blp.response(200, page_schema(CollectionSchema))
@blp.problems(401, 422)
def list_collections(args):
    """Collections visible to you, newest first."""
    site = optional_site_field(args.get("site"))
    return page_body(
        collections.list_collections(
            current_actor(),
            status=args.get("status"),
            site=site,
            participant_id=args.get("participant_id"),
            page=args["page"],
            per_page=args["per_page"],
        )
    )


@blp.post("")
@blp.arguments(CollectionCreateSchema)
@blp.response(201, CollectionSchema)
@blp.problems(401, 403, 409, 422)
def start_collection(body):
    """Start a collection: one pending tube per tube type of the kit or list."""
    actor = current_actor()
    with unit_of_work():
        site = site_field(body.pop("site")) if body.get("site") else None
        collection = collections.start_collection(actor, site=site, **body)
    return collection


@blp.get("/<id:collection_id>")
@blp.response(200, CollectionSchema)
@blp.problems(401, 404)
def get_collection(collection_id: int):
    """A collection with its tubes and the warnings its times raise."""
    return collections.get_collection(current_actor(), collection_id)


@blp.post("/<id:collection_id>/samples/<barcode>/collected")
@blp.arguments(CollectedSchema)
@blp.response(200, CollectionSchema)
@blp.problems(401, 403, 404, 409, 422)
def record_collected(body, collection_id: int, barcode: str):
    """Record when a tube was drawn."""
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        collections.record_collected(actor, collection, barcode, body["at"])
    return collection


@blp.post("/<id:collection_id>/samples/<barcode>/processed")
@blp.arguments(ProcessedSchema)
@blp.response(200, CollectionSchema)
@blp.problems(401, 403, 404, 409, 422)
def record_processed(body, collection_id: int, barcode: str):
    """Record when an SST/PST tube was centrifuged (and in which centrifuge)."""
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        collections.record_processed(
            actor, collection, barcode, body["at"], centrifuge=body.get("centrifuge")
        )
    return collection


@blp.post("/<id:collection_id>/finalize")
@blp.arguments(FinalizeSchema)
@blp.response(200, CollectionSchema)
@blp.problems(401, 403, 404, 409, 422)
def finalize(body, collection_id: int):
    """Finalize: every tube's times are checked; the tubes become ready to ship."""
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        collections.finalize_collection(actor, collection, at=body.get("at"))
    return collection


@blp.post("/<id:collection_id>/cancel")
@blp.arguments(ReasonSchema)
@blp.response(200, CollectionSchema)
@blp.problems(401, 403, 404, 409, 422)
def cancel(body, collection_id: int):
    """Cancel with a reason; tubes not yet at the biobank are cancelled too."""
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        collections.cancel_collection(actor, collection, body["reason"])
    return collection


@blp.post("/<id:collection_id>/restore")
@blp.arguments(ReasonSchema)
@blp.response(200, CollectionSchema)
@blp.problems(401, 403, 404, 409, 422)
def restore(body, collection_id: int):
    """Restore a cancelled collection to the status it had, with a reason."""
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        collections.restore_collection(actor, collection, body["reason"])
    return collection


@blp.post("/<id:collection_id>/amend")
@blp.arguments(AmendSchema)
@blp.response(200, CollectionSchema)
@blp.problems(401, 403, 404, 409, 422)
def amend(body, collection_id: int):
    """Correct a finalized collection's notes or tube times; the old values are kept."""
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        collections.amend_collection(
            actor,
            collection,
            body["reason"],
            notes=body.get("notes"),
            corrections=[TubeCorrection(**tube) for tube in body["samples"]],
        )
    return collection


def _labels(collection_id: int, args, fmt: str, *, preview: bool):
    actor = current_actor()
    with unit_of_work():
        collection = collections.get_collection(actor, collection_id)
        job = labelling.collection_labels(
            actor,
            collection,
            barcodes=args.get("barcode") or (),
            preview=preview,
            fmt=fmt,
            stock=args.get("stock"),
            start_position=args["start_position"],
            reason=args.get("reason"),
        )
    # PDFs open in the browser's viewer; ZPL is a file for the printer.
    return send_print_job(job, attachment=fmt != "pdf")


@blp.post("/<id:collection_id>/labels.pdf")
@blp.arguments(LabelQuerySchema)
@blp.doc(responses={"200": {"description": "Labels as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 409, 422)
def labels_pdf(args, collection_id: int):
    """Print the tubes' labels (urine tubes get two): records a `labelled` event per tube,
    or `label_reprinted` with `reason` (required for a reprint). Send an Idempotency-Key:
    a retry gets the same document and records nothing more."""
    return _labels(collection_id, args, "pdf", preview=False)


@blp.post("/<id:collection_id>/labels.zpl")
@blp.arguments(LabelQuerySchema)
@blp.doc(responses={"200": {"description": "Labels as ZPL for Zebra printers", **ZPL_RESPONSE}})
@blp.problems(401, 403, 404, 409, 422)
def labels_zpl(args, collection_id: int):
    """The same labels as ZPL (one ^XA…^XZ per label), recorded as printed."""
    return _labels(collection_id, args, "zpl", preview=False)


@blp.get("/<id:collection_id>/labels.pdf")
@blp.arguments(LabelQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "A preview of the labels as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 422)
def preview_labels_pdf(args, collection_id: int):
    """A preview of the labels: rendered, nothing recorded (print with POST)."""
    return _labels(collection_id, args, "pdf", preview=True)


@blp.get("/<id:collection_id>/labels.zpl")
@blp.arguments(LabelQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "A preview of the labels as ZPL", **ZPL_RESPONSE}})
@blp.problems(401, 403, 404, 422)
def preview_labels_zpl(args, collection_id: int):
    """A preview of the labels as ZPL: nothing recorded (print with POST)."""
    return _labels(collection_id, args, "zpl", preview=True)
