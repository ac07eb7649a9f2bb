from __future__ import annotations

from biobank.api.collections import PDF_RESPONSE
from biobank.api.common import API_PREFIX, Blueprint, page_body
from biobank.downloads import send_report
from biobank.schemas.common import PageArgsSchema, page_schema
from biobank.schemas.reports import (
    DiscrepancyQuerySchema,
    DiscrepancySchema,
    DisposalQuerySchema,
    DownloadQuerySchema,
    FreezerOccupancySchema,
    FreezerTimesSchema,
    OccupancyQuerySchema,
    OverdueQuerySchema,
    OverdueRowSchema,
    ProcessingDeviationsSchema,
    WindowQuerySchema,
)
from biobank.schemas.samples import SampleSchema
from biobank.schemas.shipments import ShipmentSchema
from biobank.security import current_actor
from biobank.services.core.pages import page_of
from biobank.services.core.sites import optional_site_field
from biobank.services.reporting import reports

blp = Blueprint("api_reports", __name__, url_prefix=f"{API_PREFIX}/reports", description="Reports")


@blp.get("/overdue")
@blp.arguments(OverdueQuerySchema, location="query")
@blp.response(200, page_schema(OverdueRowSchema))
@blp.problems(401, 403, 422)
def overdue(args):
    """Finalized tubes not received in time (overdue after 36 h, missing after 10 days)."""
    return page_body(
        reports.overdue_tubes(
            current_actor(),
            site=optional_site_field(args.get("site")),
            state=args.get("state"),
            page=args["page"],
            per_page=args["per_page"],
        )
    )


@blp.get("/discrepancies")
@blp.arguments(DiscrepancyQuerySchema, location="query")
@blp.response(200, page_schema(DiscrepancySchema))
@blp.problems(401, 403, 422)
def discrepancies(args):
    """Received shipments whose contents did not match the manifest."""
    return page_body(
        reports.discrepancies(
            current_actor(),
            site=optional_site_field(args.get("site")),
            page=args["page"],
            per_page=args["per_page"],
        )
    )


@blp.get("/slow-shipments")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(ShipmentSchema))
@blp.problems(401, 403, 422)
def slow_shipments(args):
    """Shipments in transit longer than BIOBANK_TRANSIT_HOURS, longest first."""
    return page_body(page_of(reports.slow_shipments(current_actor()), **args))


@blp.get("/occupancy")
@blp.arguments(OccupancyQuerySchema, location="query")
@blp.response(200, page_schema(FreezerOccupancySchema))
@blp.problems(401, 403, 422)
def occupancy(args):
    """Each freezer's fill, full boxes, and days until full at the last 30 days' intake."""
    rows = reports.occupancy_report(current_actor(), site=optional_site_field(args.get("site")))
    return page_body(page_of(rows, page=args["page"], per_page=args["per_page"]))


@blp.get("/disposals")
@blp.arguments(DisposalQuerySchema, location="query")
@blp.response(200, page_schema(SampleSchema))
@blp.problems(401, 403, 422)
def disposals(args):
    """Tubes flagged for disposal after their participant withdrew, not yet disposed of."""
    return page_body(
        reports.disposal_list(
            current_actor(),
            site=optional_site_field(args.get("site")),
            page=args["page"],
            per_page=args["per_page"],
        )
    )


@blp.get("/processing-deviations")
@blp.arguments(WindowQuerySchema, location="query")
@blp.response(200, page_schema(ProcessingDeviationsSchema))
@blp.problems(401, 403, 422)
def processing_deviations(args):
    """Per site: SST/PST tubes processed, and how many broke the HealthPro timing rules."""
    rows = reports.processing_deviations(current_actor(), days=args["days"])
    return page_body(page_of(rows, page=args["page"], per_page=args["per_page"]))


@blp.get("/collection-to-freezer")
@blp.arguments(WindowQuerySchema, location="query")
@blp.response(200, page_schema(FreezerTimesSchema))
@blp.problems(401, 403, 422)
def collection_to_freezer(args):
    """Per site: the distribution of times from the draw to a freezer position."""
    rows = reports.collection_to_freezer(current_actor(), days=args["days"])
    return page_body(page_of(rows, page=args["page"], per_page=args["per_page"]))


def _download(name: str, args, fmt: str):
    actor = current_actor()
    table = reports.report_table(
        actor,
        name,
        site=optional_site_field(args.get("site")),
        state=args.get("state"),
        days=args.get("days"),
    )
    return send_report(table, fmt, zone=actor.site.timezone)


REPORT_NAMES = "any(" + ", ".join(f'"{name}"' for name in reports.REPORT_TABLES) + ")"


@blp.get(f"/<{REPORT_NAMES}:name>.csv")
@blp.arguments(DownloadQuerySchema, location="query")
@blp.doc(
    responses={
        "200": {
            "description": "The report as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
@blp.problems(401, 403, 404, 422)
def report_csv(args, name: str):
    """Any report as CSV: overdue, discrepancies, slow-shipments, processing,
    collection-to-freezer, occupancy, disposals."""
    return _download(name, args, "csv")


@blp.get(f"/<{REPORT_NAMES}:name>.pdf")
@blp.arguments(DownloadQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "The report as PDF", **PDF_RESPONSE}})
@blp.problems(401, 403, 404, 422)
def report_pdf(args, name: str):
    """Any report as a printable PDF table."""
    return _download(name, args, "pdf")
