from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.common import page_schema
from biobank.schemas.sites import SiteQuerySchema, SiteSchema
from biobank.security import current_actor
from biobank.services.core import sites
from biobank.services.core.pages import page_of
from biobank.unit_of_work import unit_of_work

blp = Blueprint("api_sites", __name__, url_prefix=f"{API_PREFIX}/sites", description="Sites")


@blp.get("")
@blp.arguments(SiteQuerySchema, location="query")
@blp.response(200, page_schema(SiteSchema))
@blp.problems(401, 422)
def list_sites(args):
    """Collection sites and biobanks."""
    found = sites.list_sites(args.get("kind"))
    return page_body(page_of(found, page=args["page"], per_page=args["per_page"]))


@blp.post("")
@blp.arguments(SiteSchema)
@blp.response(201, SiteSchema)
@blp.problems(401, 403, 409, 422)
def create_site(body):
    """Create a site (admin)."""
    with unit_of_work():
        site = sites.create_site(actor=current_actor(), **body)
    return site
