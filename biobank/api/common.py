"""Helpers shared by the API blueprints."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint as SmorestBlueprint

from biobank.schemas.common import ProblemSchema
from biobank.services.pages import Page

API_PREFIX = "/api/v1"


class Blueprint(SmorestBlueprint):
    """A smorest blueprint whose routes document the problem answers they can give."""

    def problems(self, *codes: int):
        def decorator(func):
            for code in codes:
                func = self.alt_response(
                    code, schema=ProblemSchema, description=_DESCRIPTIONS[code]
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
