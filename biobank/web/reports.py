"""Coordinators' reports: overdue and missing tubes (also as CSV), shipments in transit too
long, and receipts that did not match their manifest.

Read-only pages over ``services.reports``; the filters come from the query string, so a
filtered report is a link a coordinator can bookmark or send.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from biobank.db import utcnow
from biobank.downloads import send_document
from biobank.errors import ValidationFailed
from biobank.models import Site
from biobank.security import current_actor
from biobank.services import policy, reports, sites
from biobank.services.pages import MAX_PER_PAGE
from biobank.web.shipments import sample_links
from biobank.web.shipping_forms import ReportFilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.context_processor(sample_links)
PER_PAGE = 50
CSV_COLUMNS = (
    "barcode",
    "tube_type",
    "site",
    "state",
    "hours_outstanding",
    "finalized_at",
    "manifest_number",
    "shipment_status",
)


@bp.before_request
@login_required
def require_reader() -> None:
    """Reports are for coordinators (and admins): others get the 403 page on every route."""
    policy.require(current_actor(), policy.Action.READ_REPORTS)


def _filters() -> tuple[ReportFilterForm, Site | None]:
    """The filter form read from the query string, and the site it names (None: all)."""
    every_site = sites.list_sites()
    form = ReportFilterForm(formdata=request.args)
    form.offer_sites(every_site)
    form.validate()
    return form, form.chosen_site(every_site)


def _page_number() -> int:
    return request.args.get("page", 1, type=int)


@bp.get("")
def index():
    return redirect(url_for(".overdue"))


@bp.get("/overdue")
def overdue():
    form, site = _filters()
    if form.errors:
        return render_template("reports/overdue.html", form=form, found=None), 422
    found = reports.overdue_tubes(
        current_actor(),
        site=site,
        state=form.state.data or None,
        page=_page_number(),
        per_page=PER_PAGE,
    )
    return render_template("reports/overdue.html", form=form, found=found)


@bp.get("/overdue.csv")
def overdue_csv():
    """Every overdue and missing tube matching the filters, for a spreadsheet."""
    form, site = _filters()
    if form.errors:
        messages = {name: list(errors) for name, errors in form.errors.items()}
        raise ValidationFailed(next(iter(messages.values()))[0], errors=messages)
    actor = current_actor()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    page = 1
    while True:
        found = reports.overdue_tubes(
            actor, site=site, state=form.state.data or None, page=page, per_page=MAX_PER_PAGE
        )
        for row in found.items:
            sample, shipment = row.sample, row.shipment
            writer.writerow(
                (
                    sample.barcode,
                    sample.tube_type.code,
                    sample.site.code,
                    row.state,
                    row.hours_outstanding,
                    sample.finalized_at.isoformat(),
                    shipment.manifest_number if shipment else "",
                    shipment.status if shipment else "",
                )
            )
        if page * found.per_page >= found.total:
            break
        page += 1
    return send_document(
        out.getvalue().encode("utf-8"),
        media_type="text/csv",
        filename=f"overdue-tubes-{utcnow():%Y%m%d}.csv",
        attachment=True,
    )


@bp.get("/slow-shipments")
def slow_shipments():
    return render_template(
        "reports/slow_shipments.html",
        shipments=reports.slow_shipments(current_actor()),
        now=utcnow(),
    )


@bp.get("/discrepancies")
def discrepancies():
    form, site = _filters()
    if form.errors:
        return render_template("reports/discrepancies.html", form=form, found=None), 422
    found = reports.discrepancies(
        current_actor(), site=site, page=_page_number(), per_page=PER_PAGE
    )
    return render_template("reports/discrepancies.html", form=form, found=found)
