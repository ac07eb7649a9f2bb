"""After distribution, as pages: the per-protocol report (page, CSV and PDF) and the studies
to notify when a participant withdraws (a section of the disposal list and of the
participant's page, from ``studies_section``). Thin views over
``services.distribution.report`` and ``aftercare``: coordinators and technicians read the
report (clinic staff and admins 403, another biobank's protocol 404)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required
from markupsafe import Markup

from biobank.downloads import send_report
from biobank.errors import Forbidden
from biobank.models import User
from biobank.security import current_actor
from biobank.services.core import policy
from biobank.services.distribution import aftercare, protocols, report

bp = Blueprint("distribution_reports", __name__, url_prefix="/distribution/protocols")


@bp.before_request
@login_required
def require_distribution_role() -> None:
    if not report.may_read(current_actor()):
        raise Forbidden(
            "Distribution to research is for the biobank's coordinators and technicians."
        )


@bp.get("/<int:protocol_id>/report")
def protocol_report(protocol_id: int):
    """What the protocol's study asked for and got, request by request, and in total."""
    actor = current_actor()
    protocol = protocols.get_protocol(actor, protocol_id)
    return render_template(
        "distribution/report.html",
        protocol=protocol,
        report=report.protocol_report(actor, protocol),
    )


@bp.get("/<int:protocol_id>/report.<any(csv, pdf):fmt>")
def download(protocol_id: int, fmt: str):
    """The report as CSV (formula-safe) or PDF, as every report."""
    actor = current_actor()
    table = report.report_table(actor, protocols.get_protocol(actor, protocol_id))
    return send_report(table, fmt, zone=actor.site.timezone)


def studies_section(actor: User, participant_id: str | None = None) -> Markup:
    """The studies to notify of withdrawals (or one participant's), as HTML for a page that
    lists withdrawals; empty when there are none, or for whoever does not read reports."""
    if not policy.can(actor, policy.Action.READ_REPORTS):
        return Markup("")
    withdrawn = aftercare.studies_to_notify(actor, participant_id=participant_id)
    if not withdrawn:
        return Markup("")
    return Markup(
        render_template(
            "distribution/_studies_to_notify.html",
            withdrawn=withdrawn,
            one=participant_id is not None,
        )
    )


def studies_to_notify_count(actor: User, participant_id: str) -> int:
    """How many studies received this participant's tubes (0 for whoever does not read
    reports)."""
    if not policy.can(actor, policy.Action.READ_REPORTS):
        return 0
    found = aftercare.studies_to_notify(actor, participant_id=participant_id)
    return sum(len(person.studies) for person in found)
