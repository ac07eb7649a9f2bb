"""Participants' consent and withdrawal, for coordinators and admins: look a participant up
by the pseudonymous ID, record what the enrollment system says. A withdrawal flags every tube
of the participant for disposal. Thin views over ``services.collecting.participants``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required

from biobank.errors import ValidationFailed
from biobank.models import Participant
from biobank.security import current_actor
from biobank.services.collecting import participants
from biobank.services.core import policy
from biobank.services.core.timebounds import days_in
from biobank.web import counted
from biobank.web.distribution_reports import studies_section, studies_to_notify_count
from biobank.web.forms import ParticipantForm, ParticipantLookupForm
from biobank.web.pages import redirect_saying, submit

bp = Blueprint("participants", __name__, url_prefix="/participants")


@bp.before_request
@login_required
def require_manager() -> None:
    policy.require(current_actor(), policy.Action.MANAGE_PARTICIPANTS)


def _form_for(participant: Participant | None) -> ParticipantForm:
    if participant is None:
        return ParticipantForm(formdata=None)
    zone = current_actor().site.timezone
    withdrawn = participant.withdrawn_at
    return ParticipantForm(
        formdata=None,
        biospecimen_consent=participant.biospecimen_consent,
        withdrawn_at=withdrawn.astimezone(ZoneInfo(zone)).date() if withdrawn else None,
        withdrawal_reason=participant.withdrawal_reason,
        disposal_ceremony=participant.disposal_ceremony,
    )


def _page(
    lookup: ParticipantLookupForm,
    participant_id: str | None,
    form: ParticipantForm | None,
    status: int = 200,
) -> ResponseReturnValue:
    participant = participants.find_participant(participant_id) if participant_id else None
    return render_template(
        "participants/index.html",
        lookup=lookup,
        participant_id=participant_id,
        participant=participant,
        form=form if form is not None else _form_for(participant),
        to_dispose=participants.tubes_to_dispose(participant_id) if participant_id else 0,
        studies=studies_section(current_actor(), participant_id) if participant else "",
    ), status


@bp.get("")
def index():
    """Look a participant up; their consent and withdrawal, to read or to change."""
    lookup = ParticipantLookupForm(formdata=request.args)
    participant_id = None
    if lookup.validate() and lookup.participant_id.data:
        try:
            participant_id = participants.participant_id_field(lookup.participant_id.data)
        except ValidationFailed as refused:
            lookup.participant_id.errors = list(
                (refused.errors or {}).get("participant_id", [refused.detail])
            )
            return _page(lookup, None, None, 422)
    return _page(lookup, participant_id, None)


@bp.post("/<participant_id>")
def save(participant_id: str):
    actor = current_actor()
    try:
        participant_id = participants.participant_id_field(participant_id)
    except ValidationFailed:
        abort(404)
    form = ParticipantForm()
    lookup = ParticipantLookupForm(formdata=None, participant_id=participant_id)

    def record():
        # The start of the day in the coordinator's zone: when the withdrawal took effect.
        withdrawn_at, _ = days_in(actor.site.timezone, form.withdrawn_at.data, None)
        return participants.upsert_participant(
            actor,
            participant_id,
            biospecimen_consent=form.biospecimen_consent.data,
            withdrawn_at=withdrawn_at,
            withdrawal_reason=form.withdrawal_reason.data,
            disposal_ceremony=form.disposal_ceremony.data,
        )

    def done(result) -> ResponseReturnValue:
        participant, created = result
        flagged = participants.tubes_to_dispose(participant.participant_id)
        said = f"{participant.participant_id} {'recorded' if created else 'updated'}"
        if participant.withdrawn_at:
            said += f": withdrawn, {counted(flagged, 'tube')} to dispose of"
            notify = studies_to_notify_count(actor, participant.participant_id)
            if notify:
                said += f"; {counted(notify, 'study', 'studies')} to notify (below)"
        return redirect_saying(
            said + ".", url_for(".index", participant_id=participant.participant_id)
        )

    return submit(
        form, record, done=done, again=lambda status: _page(lookup, participant_id, form, status)
    )
