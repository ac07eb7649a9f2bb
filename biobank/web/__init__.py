"""HTML pages: thin views over the same services as the API."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask, redirect, request
from flask_login import current_user
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from biobank.errors import handle_http_exception
from biobank.security import API_PREFIX
from biobank.services.core import policy
from biobank.services.core.timebounds import in_zone
from biobank.services.shipping import sending
from biobank.web import charts


def local_time(value, site=None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """Show an aware UTC time in a site's zone (the viewer's site by default)."""
    if value is None:
        return "—"
    if site is None and current_user.is_authenticated:
        site = current_user.site
    zone = ZoneInfo(site.timezone) if site is not None else None
    return in_zone(value, zone).strftime(fmt)


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``1 | counted('tube')`` is "1 tube", ``8 | counted('tube')`` is "8 tubes"."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def register_web(app: Flask) -> None:
    from biobank.web import (
        admin,
        auth,
        collections,
        distribution,
        distribution_reports,
        home,
        label_batches,
        participants,
        printers,
        receiving,
        reports,
        samples,
        shipments,
        storage,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(collections.bp)
    app.register_blueprint(label_batches.bp)
    app.register_blueprint(participants.bp)
    app.register_blueprint(printers.bp)
    app.register_blueprint(printers.printing_bp)
    app.register_blueprint(shipments.bp)
    app.register_blueprint(receiving.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(storage.bp)
    app.register_blueprint(samples.bp)
    app.register_blueprint(distribution.bp)
    app.register_blueprint(distribution_reports.bp)
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(sending.carrier_name, "carrier_name")
    app.add_template_filter(counted, "counted")
    app.add_template_global(charts.vertical, "chart_vertical")
    app.add_template_global(charts.horizontal, "chart_horizontal")

    @app.context_processor
    def navigation():
        return {"policy": policy, "Action": policy.Action}

    @app.errorhandler(MethodNotAllowed)
    def back_to_the_forms_page(error: MethodNotAllowed):
        """A form's address opened as a page (a refused form's address bar, reloaded from
        history or bookmarked) goes back to the page the form is on: nothing is posted again."""
        page = _page_of_form(app, request.path) if request.method in ("GET", "HEAD") else None
        if page is None or request.path.startswith(API_PREFIX):
            return handle_http_exception(error)
        return redirect(page, code=303)


def _page_of_form(app: Flask, path: str) -> str | None:
    """The nearest address above ``path`` that a page answers (``/shipments/5/dispatch`` →
    ``/shipments/5``)."""
    adapter = app.url_map.bind("localhost")
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts) or "/"
        try:
            adapter.match(candidate, method="GET")
        except (NotFound, MethodNotAllowed, RequestRedirect):
            continue
        return candidate
    return None
