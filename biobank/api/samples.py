from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.schemas.samples import EventSchema, ReasonSchema, SampleQuerySchema, SampleSchema
from biobank.schemas.storage import (
    AliquotResultSchema,
    AliquotSchema,
    DisposeSchema,
    MoveSchema,
    OptionalReasonSchema,
    ThawSchema,
)
from biobank.security import current_actor
from biobank.services.core import catalogue, samples
from biobank.services.core.pages import page_of
from biobank.services.core.sites import optional_site_field
from biobank.services.storage import lifecycle
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_samples", __name__, url_prefix=f"{API_PREFIX}/samples", description="Find a tube"
)
# The same URLs as ``blp``, its own section of the API document: what technicians do to a
# tube at the biobank (services.storage.lifecycle).
handling = Blueprint(
    "api_handling",
    __name__,
    url_prefix=f"{API_PREFIX}/samples",
    description="A tube's life at the biobank",
)


@blp.get("")
@blp.arguments(SampleQuerySchema, location="query")
@blp.response(200, page_schema(SampleSchema))
@blp.problems(401, 422)
def list_samples(args):
    """Tubes visible to you, newest first, filtered."""
    return page_body(
        samples.list_samples(
            current_actor(), page=args["page"], per_page=args["per_page"], **sample_filters(args)
        )
    )


def sample_filters(args: Mapping[str, Any]) -> dict[str, Any]:
    """The sample list's query (``SampleQuerySchema``) as ``samples.filtered_samples`` takes
    it: the site and the tube type found by their codes."""
    tube_type = args.get("tube_type")
    return {
        "status": args.get("status"),
        "site": optional_site_field(args.get("site")),
        "tube_type": catalogue.tube_types_by_code([tube_type], field="tube_type")[0]
        if tube_type
        else None,
        "collection_id": args.get("collection_id"),
        "flag": args.get("flag"),
    }


@blp.get("/<barcode>")
@blp.response(200, SampleSchema)
@blp.problems(401, 404, 422)
def get_sample(barcode: str):
    """One tube by its ID (forgiving input: case, hyphens, I/L/O)."""
    return samples.get_sample(current_actor(), barcode)


@blp.get("/<barcode>/events")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(EventSchema))
@blp.problems(401, 404, 422)
def sample_events(args, barcode: str):
    """The tube's chain of custody, oldest first."""
    return page_body(page_of(samples.sample_events(current_actor(), barcode), **args))


# --- a tube's life at the biobank ------------------------------------------------------


@handling.post("/<barcode>/move")
@handling.arguments(MoveSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def move(body, barcode: str):
    """Move a stored tube within its box or to another box."""
    actor = current_actor()
    with unit_of_work():
        sample = lifecycle.move_sample(
            actor, barcode, body["box"], body.get("position"), moving_from=body.get("moving_from")
        )
    return sample


@handling.post("/<barcode>/check-out")
@handling.arguments(OptionalReasonSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def check_out(body, barcode: str):
    """Out of the freezer for a while; its position is held."""
    with unit_of_work():
        sample = lifecycle.check_out(current_actor(), barcode, body.get("reason"))
    return sample


@handling.post("/<barcode>/check-in")
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def check_in(barcode: str):
    """Back in the freezer; the time out is recorded."""
    with unit_of_work():
        sample = lifecycle.check_in(current_actor(), barcode)
    return sample


@handling.post("/<barcode>/thaw")
@handling.arguments(ThawSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def thaw(body, barcode: str):
    """Record a freeze–thaw cycle (send `cycles_seen` so a double click counts once)."""
    with unit_of_work():
        sample = lifecycle.thaw(current_actor(), barcode, cycles_seen=body.get("cycles_seen"))
    return sample


@handling.post("/<barcode>/aliquot")
@handling.arguments(AliquotSchema)
@handling.response(201, AliquotResultSchema)
@handling.problems(401, 403, 404, 409, 422)
def aliquot(body, barcode: str):
    """Split into child tubes with new IDs; the parent's volume goes down (never below 0)."""
    with unit_of_work():
        made = lifecycle.aliquot(current_actor(), barcode, **body)
    return made


@handling.post("/<barcode>/quarantine")
@handling.arguments(ReasonSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def quarantine(body, barcode: str):
    """Set a tube aside with a reason: not stored, checked out or aliquoted until released."""
    with unit_of_work():
        sample = lifecycle.quarantine(current_actor(), barcode, body["reason"])
    return sample


@handling.post("/<barcode>/release")
@handling.arguments(ReasonSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def release(body, barcode: str):
    """Release a tube from quarantine, saying why it may be used after all."""
    with unit_of_work():
        sample = lifecycle.release(current_actor(), barcode, body["reason"])
    return sample


@handling.post("/<barcode>/withdraw")
@handling.arguments(ReasonSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def withdraw(body, barcode: str):
    with unit_of_work():
        sample = lifecycle.withdraw(current_actor(), barcode, body["reason"])
    return sample


@handling.post("/<barcode>/dispose")
@handling.arguments(DisposeSchema)
@handling.response(200, SampleSchema)
@handling.problems(401, 403, 404, 409, 422)
def dispose(body, barcode: str):
    """Destroy a tube; its position is freed. Signed: re-enter your password."""
    with unit_of_work():
        sample = lifecycle.dispose(
            current_actor(),
            barcode,
            body["reason"],
            signature_password=body["signature_password"],
            client_address=request.remote_addr,
        )
    return sample
