"""Documents the app produces (labels, manifests, reports) sent to web and API callers alike."""

from __future__ import annotations

import io
from io import BytesIO
from zoneinfo import ZoneInfo

from flask import Response, send_file

import labels
from biobank.db import utcnow
from biobank.services.collecting.labelling import PrintJob
from biobank.services.core.spreadsheet import csv_writer
from biobank.services.reporting.reports import ReportTable


def send_document(content: bytes, *, media_type: str, filename: str, attachment: bool) -> Response:
    response = send_file(
        BytesIO(content), mimetype=media_type, download_name=filename, as_attachment=attachment
    )
    # Labels and manifests are records of a moment; a cached copy could be printed twice.
    response.headers["Cache-Control"] = "no-store"
    return response


def send_printable_pdf(content: bytes, filename: str) -> Response:
    """A PDF opened in the browser to print (a manifest, a label), not saved as a download."""
    return send_document(content, media_type="application/pdf", filename=filename, attachment=False)


def send_print_job(job: PrintJob, *, attachment: bool) -> Response:
    response = send_document(
        job.content, media_type=job.media_type, filename=job.filename, attachment=attachment
    )
    response.headers["X-Label-Count"] = str(job.labels)
    return response


def send_report(table: ReportTable, fmt: str, *, zone: str) -> Response:
    """A report as CSV (for spreadsheets) or PDF (for the file and the meeting)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return send_document(
            buffer.getvalue().encode(),
            media_type="text/csv",
            filename=f"{table.name}.csv",
            attachment=True,
        )
    generated = utcnow().astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    content = labels.render_report(
        labels.ReportDoc(table.title, generated, table.headings, table.rows, table.note)
    )
    return send_printable_pdf(content, f"{table.name}.pdf")
