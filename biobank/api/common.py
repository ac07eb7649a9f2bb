"""Helpers shared by the API blueprints."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint as SmorestBlueprint
from werkzeug.routing import IntegerConverter

from biobank.db import MAX_RECORD_ID
from biobank.errors import PROBLEM_JSON
from biobank.schemas.common import ProblemSchema
from biobank.services.pages import Page

API_PREFIX = "/api/v1"


class Blueprint(SmorestBlueprint):
    """A smorest blueprint whose routes document the problem answers they can give."""

    def arguments(self, schema, *, location="json", **kwargs):
        """Routes that read a body can also answer malformed JSON (400), a body too large
        (413) and a wrong content type (415): say so in the document."""
        decorate = super().arguments(schema, location=location, **kwargs)
        if location not in ("json", "files", "form"):
            return decorate

        def decorator(func):
            return self.problems(400, 413, 415)(decorate(func))

        return decorator

    def problems(self, *codes: int):
        def decorator(func):
            for code in codes:
                func = self.alt_response(
                    code,
                    schema=ProblemSchema,
                    description=_DESCRIPTIONS[code],
                    content_type=PROBLEM_JSON,
                )(func)
            return func

        return decorator


_DESCRIPTIONS = {
    400: "The request body is not valid JSON.",
    401: "No valid bearer token.",
    403: "Your role may not do this.",
    404: "No such record visible to you.",
    409: "The record's state does not allow this.",
    413: "The request body is too large.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "Some fields are not valid; `errors` names them.",
    429: "Too many attempts; retry after the Retry-After seconds.",
}


def page_body(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


class RecordIdConverter(IntegerConverter):
    """``<id:…>`` in routes, documented as a positive 32-bit integer. The range is checked
    where records are read (``biobank.db.get_record``): out of range is simply no record."""


def record_id_schema(converter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": MAX_RECORD_ID}
