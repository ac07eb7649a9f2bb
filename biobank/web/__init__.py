"""HTML pages: thin views over the same services as the API."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user

from biobank.services import policy, shipping
from biobank.services.timebounds import in_zone
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
        home,
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
    app.register_blueprint(shipments.bp)
    app.register_blueprint(receiving.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(storage.bp)
    app.register_blueprint(samples.bp)
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(shipping.carrier_name, "carrier_name")
    app.add_template_filter(counted, "counted")
    app.add_template_global(charts.vertical, "chart_vertical")
    app.add_template_global(charts.horizontal, "chart_horizontal")

    @app.context_processor
    def navigation():
        return {"policy": policy, "Action": policy.Action}
