"""Coordinators' reports: overdue and missing tubes (also as CSV), shipments in transit too
long, and receipts that did not match their manifest.

Read-only pages over ``services.reporting.reports``; the filters come from the query string, so a
filtered report is a link a coordinator can bookmark or send.
"""

from __future__ import annotations

import re

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from biobank.db import utcnow
from biobank.downloads import send_report
from biobank.errors import ValidationFailed
from biobank.models import Site
from biobank.security import current_actor
from biobank.services.core import policy, sites
from biobank.services.reporting import reports
from biobank.services.shipping import sending
from biobank.web.distribution_reports import studies_section
from biobank.web.shipments import sample_links
from biobank.web.shipping_forms import ReportFilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.context_processor(sample_links)
PER_PAGE = 50


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


TABLE_PAGES = ("processing", "collection-to-freezer", "occupancy", "disposals")
NAMES = "any(" + ", ".join(f'"{name}"' for name in reports.REPORT_TABLES) + ")"


def _table(name: str):
    """The named report for the query string's filters (bad filters: 422 beside them)."""
    form, site = _filters()
    if form.errors:
        raise ValidationFailed.for_fields(form.errors)
    typed = request.args.get("days", "").strip()
    if typed and not re.fullmatch(r"[0-9]{1,6}", typed):
        raise ValidationFailed.for_field("days", "Give the number of days as a whole number.")
    days = int(typed) if typed else None
    return reports.report_table(
        current_actor(), name, site=site, state=form.state.data or None, days=days
    )


@bp.get(f"/<{NAMES}:name>.<any(csv, pdf):fmt>")
def download(name: str, fmt: str):
    """Any report as CSV (a spreadsheet) or PDF (to print or file), with the page's filters."""
    return send_report(_table(name), fmt, zone=current_actor().site.timezone)


@bp.get("/<any(" + ", ".join(f'"{n}"' for n in TABLE_PAGES) + "):name>")
def table(name: str):
    found = _table(name)
    # Withdrawn participants whose tubes went to studies: the studies to notify.
    notify = studies_section(current_actor()) if name == "disposals" else ""
    return render_template("reports/table.html", report=found, name=name, notify=notify)


@bp.get("/slow-shipments")
def slow_shipments():
    now = utcnow()
    found = reports.slow_shipments(current_actor(), now=now)
    return render_template(
        "reports/slow_shipments.html",
        shipments=found,
        tubes=sending.manifested_counts(found),
        hours={s.id: reports.hours_in_transit(s, now) for s in found},
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
