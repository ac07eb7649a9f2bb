from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.catalogue import KitSchema, TubeTypeSchema
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.services.core import catalogue
from biobank.services.core.pages import page_of

blp = Blueprint("api_catalogue", __name__, url_prefix=API_PREFIX, description="Tube types and kits")


@blp.get("/tube-types")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(TubeTypeSchema))
@blp.problems(401, 422)
def list_tube_types(args):
    """The tube / test codes of the collection protocol."""
    return page_body(page_of(catalogue.list_tube_types(), **args))


@blp.get("/kits")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(KitSchema))
@blp.problems(401, 422)
def list_kits(args):
    """Kit templates: named sets of tube types."""
    return page_body(page_of(catalogue.list_kits(), **args))
