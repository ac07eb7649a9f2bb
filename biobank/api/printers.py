from __future__ import annotations

from biobank import printing
from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.schemas.printers import (
    PrinterCreateSchema,
    PrinterJobSchema,
    PrinterQuerySchema,
    PrinterSchema,
    PrinterUpdateSchema,
    PrintJobCreateSchema,
)
from biobank.security import current_actor
from biobank.services.collecting import printers
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_printers",
    __name__,
    url_prefix=f"{API_PREFIX}/printers",
    description="Label printers at each site, and print jobs sent to them (ZPL over raw TCP)",
)


@blp.get("")
@blp.arguments(PrinterQuerySchema, location="query")
@blp.response(200, page_schema(PrinterSchema))
@blp.problems(401, 422)
def list_printers(args):
    """Your site's label printers (every site's for admins)."""
    return page_body(printers.list_printers(current_actor(), **args))


@blp.post("")
@blp.arguments(PrinterCreateSchema)
@blp.response(201, PrinterSchema)
@blp.problems(401, 403, 409, 422)
def register_printer(body):
    """Register a site's label printer (admin). Its host must be on a printer network and its
    port a printer port (the server's BIOBANK_PRINTER_NETWORKS and BIOBANK_PRINTER_PORTS)."""
    with unit_of_work():
        printer = printers.register_printer(current_actor(), **body)
    return printer


@blp.get("/<id:printer_id>")
@blp.response(200, PrinterSchema)
@blp.problems(401, 404)
def get_printer(printer_id: int):
    return printers.get_printer(current_actor(), printer_id)


@blp.patch("/<id:printer_id>")
@blp.arguments(PrinterUpdateSchema)
@blp.response(200, PrinterSchema)
@blp.problems(401, 403, 404, 409, 422)
def update_printer(body, printer_id: int):
    """Change a printer (admin): name, host, port, resolution, stock; `active: false` takes
    it out of use."""
    actor = current_actor()
    with unit_of_work():
        printer = printers.update_printer(actor, printers.get_printer(actor, printer_id), **body)
    return printer


@blp.post("/<id:printer_id>/jobs")
@blp.arguments(PrintJobCreateSchema)
@blp.response(201, PrinterJobSchema)
@blp.problems(401, 403, 404, 409, 422, 502, 503)
def print_job(body, printer_id: int):
    """Print labels on a printer of your site: a `collection`'s tubes (all, or `barcodes`), a
    `label_batch`, the tubes in a `box`, or tubes by `barcodes` (a reprint, with `reason`).
    201: the printer took them, and they are recorded as printed (as a PDF or ZPL print is).
    502: the printer did not take them (off, refusing, stopped midway); nothing is recorded
    as printed, and `print_job` names the failed job. 409: the printer is busy with another
    job, or out of use. Send an Idempotency-Key: a retry gets the first answer, printed once.
    """
    return printing.print_to_printer(current_actor(), printer_id, **body)


@blp.get("/<id:printer_id>/jobs")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(PrinterJobSchema))
@blp.problems(401, 404, 422)
def list_jobs(args, printer_id: int):
    """The printer's jobs, newest first, with how each ended."""
    actor = current_actor()
    return page_body(
        printers.list_printer_jobs(actor, printers.get_printer(actor, printer_id), **args)
    )


@blp.get("/<id:printer_id>/jobs/<id:job_id>")
@blp.response(200, PrinterJobSchema)
@blp.problems(401, 404)
def get_job(printer_id: int, job_id: int):
    actor = current_actor()
    return printers.get_printer_job(actor, printers.get_printer(actor, printer_id), job_id)
