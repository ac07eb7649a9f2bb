"""Helpers shared by the API blueprints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import ValidationError
from webargs import core
from webargs.flaskparser import FlaskParser, abort
from werkzeug.routing import IntegerConverter

from biobank.db import MAX_RECORD_ID
from biobank.errors import PROBLEM_JSON
from biobank.schemas.common import ProblemSchema
from biobank.services.core.pages import Page

API_PREFIX = "/api/v1"


NUL_MESSAGE = "Remove the NUL character (\\0): no value here may contain one."
SURROGATE_MESSAGE = (
    "Remove the lone surrogate (a \\ud800-\\udfff escape without its pair): it is not a "
    "character, and the text cannot be stored. Send the text as UTF-8."
)
# Real bodies are a few levels deep; the JSON decoder recurses per level and would hit
# Python's recursion limit (a RecursionError, a 500) on a body such as [[[[...]]]].
MAX_JSON_DEPTH = 64
TOO_DEEP_MESSAGE = (
    f"JSON nested too deeply: a body may nest arrays and objects at most {MAX_JSON_DEPTH} "
    "levels deep."
)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def _value_problem(value: Any) -> str | None:
    """Why a value (a string, or any JSON structure of them) cannot be stored, or None.

    PostgreSQL cannot store or even compare text holding a NUL character, and no database
    can store a lone surrogate (``"\\ud800"`` in JSON decodes to one; UTF-8 cannot encode
    it): either would answer an error (a 500) instead.
    """
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = _value_problem(key) or _value_problem(item)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = _value_problem(item)
            if problem:
                return problem
    return None


_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_too_deep(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects more than ``limit`` levels deep.

    A scan without recursion; a body with no more than ``limit`` brackets in all (every
    ordinary body) is not scanned at all. Brackets inside strings do not count.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


class JSONTooDeep(ValueError):
    """A JSON text nested deeper than ``MAX_JSON_DEPTH`` (a ValueError, as for malformed JSON)."""


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing (as malformed) a text nested deeper than ``MAX_JSON_DEPTH``
    before the decoder recurses into it: ``request.get_json()`` answers 400, not 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if json_too_deep(s):
            raise JSONTooDeep(TOO_DEEP_MESSAGE)
        return super().loads(s, **kwargs)


class ArgumentsParser(FlaskParser):
    """Reads arguments as webargs does, but refuses with a 422 where it stands a value that
    cannot be stored (a NUL character, a lone surrogate), and a body nested too deeply with a
    400, before decoding it."""

    def _raw_load_json(self, req):
        if not core.is_json(req.mimetype):
            return core.missing
        data = req.get_data(cache=True)
        if json_too_deep(data):
            abort(400, messages={"json": [TOO_DEEP_MESSAGE]}, detail=TOO_DEEP_MESSAGE)
        return core.parse_json(data)

    def pre_load(self, location_data, *, schema, req, location):
        if not isinstance(location_data, Mapping):  # a JSON body that is not an object
            problem = _value_problem(location_data)
            if problem:
                raise ValidationError(problem)
            return location_data
        declared = {field.data_key or name for name, field in schema.fields.items()}
        getlist = getattr(location_data, "getlist", None)
        problems = {}
        for key in location_data:
            if location in ("query", "querystring", "form") and key not in declared:
                continue  # ignored by the schema, never reaches the database
            values = getlist(key) if getlist else [location_data[key]]
            problem = _value_problem(key) or _value_problem(values)
            if problem:
                problems[key] = [problem]
        if problems:
            raise ValidationError(problems)
        return location_data


SIGNATURE_FIELD = "signature_password"


def _takes_signature(schema) -> bool:
    return SIGNATURE_FIELD in getattr(schema, "fields", {})


class Blueprint(SmorestBlueprint):
    """A smorest blueprint whose routes document the problem answers they can give."""

    ARGUMENTS_PARSER = ArgumentsParser()

    def arguments(self, schema, *, location="json", **kwargs):
        """Routes that read a body can also answer malformed JSON (400), a body too large
        (413) and a wrong content type (415): say so in the document.

        A schema class is made into its instance once, here: given the class, webargs would
        build a new instance (copying every declared field) on every request."""
        if isinstance(schema, type):
            schema = schema()
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
    502: "The label printer did not take the job (off, refusing, or stopped midway): nothing "
    "was recorded as printed; `print_job` names the failed job.",
    503: "The service cannot answer now; `detail` says what the operator must set up.",
}


def page_body(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "total_exact": page.total_exact,
        "page": page.page,
        "per_page": page.per_page,
    }


class RecordIdConverter(IntegerConverter):
    """``<id:…>`` in routes, documented as a positive 32-bit integer. The range is checked
    where records are read (``unit_of_work.get_record``): out of range is simply no record."""


def record_id_schema(converter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": MAX_RECORD_ID}
