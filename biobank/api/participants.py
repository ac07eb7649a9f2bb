from __future__ import annotations

from biobank.api.common import API_PREFIX, Blueprint
from biobank.schemas.participants import ParticipantSchema, ParticipantUpdateSchema
from biobank.security import current_actor
from biobank.services.collecting import participants
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
