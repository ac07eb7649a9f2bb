from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint
from biobank.schemas.distribution import StudiesToNotifySchema
from biobank.schemas.participants import ParticipantSchema, ParticipantUpdateSchema
from biobank.security import current_actor
from biobank.services.collecting import participants
from biobank.services.distribution import aftercare
from biobank.unit_of_work import unit_of_work

blp = Blueprint(
    "api_participants",
    __name__,
    url_prefix=f"{API_PREFIX}/participants",
    description="Consent facts from the enrollment system (pseudonymous IDs only)",
)


@blp.put("/<participant_id>")
@blp.arguments(ParticipantUpdateSchema)
@blp.response(200, ParticipantSchema, description="Updated.")
@blp.alt_response(201, schema=ParticipantSchema, description="Created.")
@blp.problems(401, 403, 422)
def put_participant(body, participant_id: str):
    """Record consent and withdrawal (coordinator or integration token). A withdrawal flags
    every one of the participant's tubes for disposal."""
    with unit_of_work():
        participant, created = participants.upsert_participant(
            current_actor(), participant_id, **body
        )
    return participant, 201 if created else 200


@blp.get("/<participant_id>/studies-to-notify")
@blp.response(200, StudiesToNotifySchema)
@blp.problems(401, 403, 404, 422)
def studies_to_notify(participant_id: str):
    """The studies to tell of a withdrawal (coordinators and admins, who read reports): each
    study that received the participant's tubes, under the pseudonym it knows them by (never
    tell a study the participant ID), with the tubes it got, sent back and still holds. Empty
    while the participant has not withdrawn; 404 for a participant never recorded, 422 for a
    malformed ID."""
    return aftercare.participant_studies(current_actor(), participant_id)
