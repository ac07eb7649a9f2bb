from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from biobank.security import current_actor
from biobank.services.dashboards import dashboard_for

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    user = current_actor()
    return render_template(f"home/{user.role}.html", dashboard=dashboard_for(user))
