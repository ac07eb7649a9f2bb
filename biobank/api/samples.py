from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.schemas.samples import EventSchema, SampleQuerySchema, SampleSchema
from biobank.security import current_actor
from biobank.services import catalogue, samples
from biobank.services.pages import page_of
from biobank.services.sites import optional_site_field

blp = Blueprint(
    "api_samples", __name__, url_prefix=f"{API_PREFIX}/samples", description="Find a tube"
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
