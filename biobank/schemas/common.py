from __future__ import annotations

from functools import cache

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from biobank.services.core.pages import COUNTED_PAST_THE_PAGE, MAX_PAGE, MAX_PER_PAGE
from biobank.services.core.timebounds import ALLOWED_RANGE, time_problem


class Moment(fields.AwareDateTime):
    """Every time the API reads: ISO 8601 with its UTC offset, from 2000 up to now (the one
    check in ``services.core.timebounds``, which the services and the web forms use too). The
    422 names the field and the range."""

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", {}))
        said = metadata.get("description", "")
        metadata["description"] = f"{said} ISO 8601 with its UTC offset; {ALLOWED_RANGE}.".strip()
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        problem = time_problem(moment, self.data_key or self.name or attr or "time")
        if problem:
            raise ValidationError(problem)
        return moment


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error answers. Extensible, as the RFC allows:
    conflicts add what the client needs next (e.g. ``next_free``, ``barcode``, ``report``)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For 422: the messages for each field that is not valid."},
    )
    request_id = fields.String(allow_none=True)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


@cache
def page_schema(item_schema: type[Schema]) -> type[Schema]:
    """``{items: [...], total, page, per_page}`` around one item schema."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "total": fields.Integer(required=True),
            "total_exact": fields.Boolean(
                required=True,
                metadata={
                    "description": "False when more match than were counted (counting stops "
                    f"{COUNTED_PAST_THE_PAGE:,} past the page): `total` is then a lower bound."
                },
            ),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
        },
        name=name,
    )
