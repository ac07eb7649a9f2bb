from __future__ import annotations

from biobank.api.collections import PDF_RESPONSE, ZPL_RESPONSE
from biobank.api.common import API_PREFIX, Blueprint
from biobank.downloads import send_print_job
from biobank.schemas.collections import LabelBatchCreateSchema, LabelBatchSchema, LabelQuerySchema
from biobank.security import current_actor
from biobank.services.collecting import labelling
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_label_batches",
    __name__,
    url_prefix=f"{API_PREFIX}/label-batches",
    description="Pre-labelled kits",
)


@blp.post("")
@blp.arguments(LabelBatchCreateSchema)
@blp.response(201, LabelBatchSchema)
@blp.problems(401, 403, 422)
def create_label_batch(body):
    """Make `count` pre-labelled kits for a clinic: pending tubes with IDs and labels."""
    with unit_of_work():
        batch = labelling.create_label_batch(current_actor(), **body)
    return batch


@blp.get("/<id:batch_id>")
@blp.response(200, LabelBatchSchema)
@blp.problems(401, 404)
def get_label_batch(batch_id: int):
    return labelling.get_label_batch(current_actor(), batch_id)


def _labels(batch_id: int, args, fmt: str, *, preview: bool):
    actor = current_actor()
    with unit_of_work():
        batch = labelling.get_label_batch(actor, batch_id)
        job = labelling.batch_labels(
            actor,
            batch,
            preview=preview,
            fmt=fmt,
            stock=args.get("stock"),
            start_position=args["start_position"],
            reason=args.get("reason"),
        )
    return send_print_job(job, attachment=fmt != "pdf")


@blp.post("/<id:batch_id>/labels.pdf")
@blp.arguments(LabelQuerySchema)
@blp.doc(responses={"200": {"description": "Labels as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 409, 422)
def batch_labels_pdf(args, batch_id: int):
    """Print the batch's labels, kit by kit, recorded as printed. A reprint needs `reason`.
    Send an Idempotency-Key: a retry gets the same document and records nothing more."""
    return _labels(batch_id, args, "pdf", preview=False)


@blp.post("/<id:batch_id>/labels.zpl")
@blp.arguments(LabelQuerySchema)
@blp.doc(responses={"200": {"description": "Labels as ZPL", **ZPL_RESPONSE}})
@blp.problems(401, 403, 404, 409, 422)
def batch_labels_zpl(args, batch_id: int):
    """The batch's labels as ZPL, recorded as printed."""
    return _labels(batch_id, args, "zpl", preview=False)


@blp.get("/<id:batch_id>/labels.pdf")
@blp.arguments(LabelQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "A preview of the labels as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 422)
def preview_batch_labels_pdf(args, batch_id: int):
    """A preview of the batch's labels: rendered, nothing recorded (print with POST)."""
    return _labels(batch_id, args, "pdf", preview=True)


@blp.get("/<id:batch_id>/labels.zpl")
@blp.arguments(LabelQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "A preview of the labels as ZPL", **ZPL_RESPONSE}})
@blp.problems(401, 403, 404, 422)
def preview_batch_labels_zpl(args, batch_id: int):
    """A preview of the batch's labels as ZPL: nothing recorded (print with POST)."""
    return _labels(batch_id, args, "zpl", preview=True)
