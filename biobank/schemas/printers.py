from __future__ import annotations

from marshmallow import Schema, fields, validate

import labels
from biobank.models import PRINTER_DPIS, PrintJobKind, PrintJobStatus
from biobank.schemas.common import PageArgsSchema
from biobank.services.collecting import printers

_STOCKS = ", ".join(code for code, stock in labels.STOCKS.items() if stock.zpl)


class PrinterSchema(Schema):
    id = fields.Integer(dump_only=True)
    site = fields.Function(lambda p: p.site.code, metadata={"description": "Site code."})
    name = fields.String(metadata={"description": "What people call it, e.g. Bench 2 Zebra."})
    host = fields.String(
        metadata={"description": "IP address or host name, on the site's network."}
    )
    port = fields.Integer(metadata={"description": "Raw printing port (9100)."})
    dpi = fields.Integer(metadata={"description": "Print resolution: 203, 300 or 600."})
    stock = fields.String(metadata={"description": f"The label stock loaded: {_STOCKS}."})
    active = fields.Boolean(metadata={"description": "False: taken out of use by an admin."})
    created_at = fields.AwareDateTime(dump_only=True)


class PrinterCreateSchema(Schema):
    site = fields.String(required=True, validate=validate.Length(min=1, max=32))
    name = fields.String(required=True, validate=validate.Length(min=1, max=printers.MAX_NAME))
    host = fields.String(
        required=True,
        validate=validate.Length(min=1, max=printers.MAX_HOST),
        metadata={"description": "IP address or host name only (no scheme, port or path)."},
    )
    port = fields.Integer(load_default=printers.DEFAULT_PORT, validate=validate.Range(1, 65535))
    dpi = fields.Integer(
        load_default=300,
        validate=validate.OneOf(PRINTER_DPIS),
        metadata={"description": "203, 300 or 600; must match the stock's."},
    )
    stock = fields.String(
        load_default=labels.DEFAULT_STOCK,
        validate=validate.Length(min=1, max=32),
        metadata={"description": f"The label stock loaded: {_STOCKS}."},
    )


class PrinterUpdateSchema(Schema):
    """Only what changes; ``active: false`` takes the printer out of use (its jobs stay)."""

    name = fields.String(validate=validate.Length(min=1, max=printers.MAX_NAME))
    host = fields.String(validate=validate.Length(min=1, max=printers.MAX_HOST))
    port = fields.Integer(validate=validate.Range(1, 65535))
    dpi = fields.Integer(validate=validate.OneOf(PRINTER_DPIS))
    stock = fields.String(validate=validate.Length(min=1, max=32))
    active = fields.Boolean()


class PrinterQuerySchema(PageArgsSchema):
    site = fields.String(validate=validate.Length(max=32))
    active = fields.Boolean()


class PrintJobCreateSchema(Schema):
    """One of ``collection``, ``label_batch``, ``box``, or ``barcodes`` (a reprint, with a
    ``reason``); ``barcodes`` with a collection prints only those of its tubes."""

    collection = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "A collection's tubes."}
    )
    label_batch = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "A batch of kits, kit by kit."}
    )
    box = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "The tubes stored in a box, position by position."},
    )
    barcodes = fields.List(
        fields.String(validate=validate.Length(min=1, max=16)),
        validate=validate.Length(min=1, max=printers.MAX_REPRINT_TUBES),
        metadata={
            "description": "Tubes to reprint (a reason is required), or some of a "
            "collection's tubes."
        },
    )
    reason = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "Required for a reprint, and when the labels printed before."},
    )


class PrinterJobSchema(Schema):
    id = fields.Integer()
    printer = fields.Integer(attribute="printer_id")
    kind = fields.Enum(PrintJobKind, by_value=True)
    status = fields.Enum(
        PrintJobStatus,
        by_value=True,
        metadata={
            "description": "sent: the printer took the labels, recorded as printed; failed: "
            "nothing recorded as printed (see failure); sending: in flight, or never confirmed "
            "(see unconfirmed)."
        },
    )
    unconfirmed = fields.Function(
        printers.unconfirmed,
        metadata={"description": "Left sending: the labels may have printed, none recorded."},
    )
    collection = fields.Integer(attribute="collection_id", allow_none=True)
    label_batch = fields.Integer(attribute="label_batch_id", allow_none=True)
    box = fields.Integer(attribute="container_id", allow_none=True)
    tubes = fields.Function(lambda job: len(job.sample_ids))
    labels = fields.Integer()
    stock = fields.String()
    reason = fields.String(allow_none=True)
    failure = fields.String(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": "Where the bytes went."})
    size_bytes = fields.Integer()
    content_sha256 = fields.String()
    requested_by = fields.Function(lambda job: job.requested_by.username)
    created_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime(allow_none=True)
