"""Documents the app produces (labels, manifests, reports) sent to web and API callers alike."""

from __future__ import annotations

from io import BytesIO

from flask import Response, send_file

from biobank.services.labelling import PrintJob


def send_document(content: bytes, *, media_type: str, filename: str, attachment: bool) -> Response:
    response = send_file(
        BytesIO(content), mimetype=media_type, download_name=filename, as_attachment=attachment
    )
    # Labels and manifests are records of a moment; a cached copy could be printed twice.
    response.headers["Cache-Control"] = "no-store"
    return response


def send_print_job(job: PrintJob, *, attachment: bool) -> Response:
    response = send_document(
        job.content, media_type=job.media_type, filename=job.filename, attachment=attachment
    )
    response.headers["X-Label-Count"] = str(job.labels)
    return response
