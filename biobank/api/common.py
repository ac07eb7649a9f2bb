"""Helpers shared by the API blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from biobank.db import MAX_RECORD_ID
from biobank.errors import PROBLEM_JSON
from biobank.schemas.common import ProblemSchema
from biobank.services.pages import Page

API_PREFIX = "/api/v1"


NUL_MESSAGE = "Remove the NUL character (\\0): no value here may contain one."


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


class ArgumentsParser(FlaskParser):
    """Reads arguments as webargs does, but refuses a NUL character with a 422 where it
    stands: PostgreSQL cannot store or even compare text holding one, and would answer the
    query with an error (a 500) instead."""

    def pre_load(self, location_data, *, schema, req, location):
        if not isinstance(location_data, Mapping):  # a JSON body that is not an object
            if _holds_nul(location_data):
                raise ValidationError(NUL_MESSAGE)
            return location_data
        declared = {field.data_key or name for name, field in schema.fields.items()}
        getlist = getattr(location_data, "getlist", None)
        problems = {}
        for key in location_data:
            if location in ("query", "querystring", "form") and key not in declared:
                continue  # ignored by the schema, never reaches the database
            values = getlist(key) if getlist else [location_data[key]]
            if _holds_nul(key) or _holds_nul(values):
                problems[key] = [NUL_MESSAGE]
        if problems:
            raise ValidationError(problems)
        return location_data


SIGNATURE_FIELD = "signature_password"


def _takes_signature(schema) -> bool:
    instance = schema() if isinstance(schema, type) else schema
    return SIGNATURE_FIELD in getattr(instance, "fields", {})


class Blueprint(SmorestBlueprint):
    """A smorest blueprint whose routes document the problem answers they can give."""

    ARGUMENTS_PARSER = ArgumentsParser()

    def arguments(self, schema, *, location="json", **kwargs):
        """Routes that read a body can also answer malformed JSON (400), a body too large
        (413) and a wrong content type (415): say so in the document."""
        decorate = super().arguments(schema, location=location, **kwargs)
        if location not in ("json", "files", "form"):
            return decorate
        # An electronic signature can be refused for too many wrong passwords (429).
        codes = (400, 413, 415, 429) if _takes_signature(schema) else (400, 413, 415)

        def decorator(func):
            return self.problems(*codes)(decorate(func))

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
    429: "Too many attempts (sign-in, or wrong signature passwords); retry after the "
    "Retry-After seconds. An admin can unlock a signature lock sooner.",
    503: "The service cannot answer now; `detail` says what the operator must set up.",
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
