from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from biobank.errors import DomainError
from biobank.models import Container, Sample
from biobank.security import current_actor
from biobank.services.reporting.dashboards import dashboard_for
from biobank.services.reporting.lookup import resolve_scan
from biobank.services.shipping import receiving

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    user = current_actor()
    return render_template(f"home/{user.role}.html", dashboard=dashboard_for(user))


@bp.get("/scan")
@login_required
def scan():
    """The scan box on every page: a tube, a manifest or a box lands on its page."""
    code = request.args.get("code", "")
    if not code.strip():
        return render_template("scan.html", code=code, error=None)
    user = current_actor()
    try:
        target = resolve_scan(user, code)
    except DomainError as refused:
        return render_template("scan.html", code=code, error=refused.detail), refused.status
    record = target.record
    if isinstance(record, Sample):
        return redirect(url_for("samples.show", barcode=record.barcode))
    if isinstance(record, Container):
        return redirect(url_for("storage.box", box_id=record.id))
    shipment = record
    endpoint = "receiving.show" if receiving.may_receive(user, shipment) else "shipments.show"
    return redirect(url_for(endpoint, shipment_id=shipment.id))
