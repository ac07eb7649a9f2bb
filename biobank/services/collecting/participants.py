"""Participants: consent facts from the enrollment system, and the gate they put on collecting."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    EventType,
    FlagKind,
    Participant,
    Sample,
    SampleFlag,
    SampleStatus,
    User,
)
from biobank.services.core import ids, policy
from biobank.services.core.custody import record_event
from biobank.services.core.privacy import check_free_text
from biobank.services.core.samples import add_flag
from biobank.services.core.settings import setting
from biobank.services.core.timebounds import check_time

# The pieces of a participant ID pattern that can be said in words: a run of literal
# characters, or a class with a count. Anything else is shown as the pattern itself.
_PATTERN_PIECE = re.compile(
    r"(?P<literal>(?:[A-Za-z0-9_-]|\\[-.])+)"
    r"|(?P<kind>\\d|\[0-9\]|\[A-Z\]|\[A-Z0-9\]|\[0-9A-Z\])(?:\{(?P<count>\d+)\})?"
)
_KINDS = {
    "\\d": ("digit", "1234567890"),
    "[0-9]": ("digit", "1234567890"),
    "[A-Z]": ("capital letter", "ABCDEFGHJK"),
    "[A-Z0-9]": ("capital letter or digit", "A1B2C3D4E5"),
    "[0-9A-Z]": ("capital letter or digit", "A1B2C3D4E5"),
}


def participant_id_rule() -> str:
    """What a participant ID must look like, in words with an example, from the configured
    pattern: ``^P\\d{9}$`` reads "P followed by 9 digits (e.g. P123456789)"."""
    pattern = setting("BIOBANK_PARTICIPANT_ID_PATTERN")
    body = pattern.removeprefix("^").removesuffix("$")
    words, example, at = [], "", 0
    while at < len(body):
        piece = _PATTERN_PIECE.match(body, at)
        if piece is None:
            return f"the pattern {pattern} (BIOBANK_PARTICIPANT_ID_PATTERN)"
        at = piece.end()
        if piece["literal"]:
            literal = piece["literal"].replace("\\", "")
            words.append(literal)
            example += literal
            continue
        name, sample = _KINDS[piece["kind"]]
        count = int(piece["count"] or 1)
        words.append(f"{count} {name}{'s' if count != 1 else ''}")
        example += (sample * count)[:count]
    return f"{' followed by '.join(words)} (e.g. {example})"


def participant_id_field(text: str, field: str = "participant_id") -> str:
    """A participant ID as the configured pattern wants it (default ``P`` + 9 digits)."""
    value = (text or "").strip().upper()
    if not ids.looks_like_participant_id(value):
        raise ValidationFailed.for_field(
            field,
            f"{(text or '').strip()!r} is not a participant ID: a participant ID is "
            f"{participant_id_rule()}. Scan the participant's barcode or type the ID.",
        )
    return value


def find_participant(participant_id: str) -> Participant | None:
    return db.session.scalar(
        sa.select(Participant).where(Participant.participant_id == participant_id)
    )


def ensure_may_collect(participant_id: str) -> None:
    """Refuse a collection the participant has not consented to (unknown IDs may proceed)."""
    participant = find_participant(participant_id)
    if participant is None:
        return  # a clinic may run without an enrollment feed
    if participant.withdrawn_at is not None:
        raise ValidationFailed.for_field(
            "participant_id",
            f"Participant {participant_id} has withdrawn from the program: do not collect.",
        )
    if not participant.biospecimen_consent:
        raise ValidationFailed.for_field(
            "participant_id",
            f"Participant {participant_id} has not given biospecimen consent: do not collect.",
        )


def upsert_participant(
    actor: User,
    participant_id: str,
    *,
    biospecimen_consent: bool,
    withdrawn_at: datetime | None = None,
    withdrawal_reason: str | None = None,
    disposal_ceremony: bool = False,
) -> tuple[Participant, bool]:
    """Record the enrollment system's facts; returns the participant and whether it is new."""
    policy.require(actor, policy.Action.MANAGE_PARTICIPANTS)
    participant_id = participant_id_field(participant_id)
    if withdrawn_at is not None:
        check_time(withdrawn_at, "withdrawn_at")
    if withdrawn_at is not None and withdrawn_at > utcnow():
        raise ValidationFailed.for_field("withdrawn_at", "A withdrawal cannot be in the future.")
    reason = check_free_text(withdrawal_reason, "withdrawal_reason")
    participant = find_participant(participant_id)
    created = participant is None
    if participant is None:
        participant = Participant(participant_id=participant_id, biospecimen_consent=False)
        db.session.add(participant)
    newly_withdrawn = withdrawn_at is not None and participant.withdrawn_at is None
    participant.biospecimen_consent = biospecimen_consent
    participant.withdrawn_at = withdrawn_at
    participant.withdrawal_reason = reason
    participant.disposal_ceremony = disposal_ceremony
    db.session.flush()
    if newly_withdrawn:
        flag_for_disposal(actor, participant)
    return participant, created


def tubes_to_dispose(participant_id: str) -> int:
    """How many of the participant's tubes are flagged for disposal and not yet disposed of
    (tubes at a study are not the biobank's to dispose of: ``distribution.aftercare``)."""
    return (
        db.session.scalar(
            sa.select(sa.func.count(Sample.id))
            .join(Collection, Sample.collection_id == Collection.id)
            .join(SampleFlag, SampleFlag.sample_id == Sample.id)
            .where(
                Collection.participant_id == participant_id,
                SampleFlag.kind == FlagKind.DISPOSAL_REQUIRED,
                Sample.status.not_in((*GONE, SampleStatus.DISTRIBUTED)),
            )
        )
        or 0
    )


# Tubes a withdrawal no longer concerns: already gone, or never taken.
GONE = (SampleStatus.DISPOSED, SampleStatus.CONSUMED, SampleStatus.CANCELLED)


def flag_for_disposal(actor: User, participant: Participant) -> list[Sample]:
    """Every tube of a withdrawn participant is flagged for disposal, with why."""
    why = "participant withdrew" + (
        f": {participant.withdrawal_reason}" if participant.withdrawal_reason else ""
    )
    tubes = db.session.scalars(
        sa.select(Sample)
        .join(Collection, Sample.collection_id == Collection.id)
        .where(
            Collection.participant_id == participant.participant_id,
            Sample.status.not_in(GONE),
        )
        .order_by(Sample.id)
    ).all()
    for tube in tubes:
        if add_flag(
            tube,
            FlagKind.DISPOSAL_REQUIRED,
            actor=actor,
            note=why,
            ceremony=participant.disposal_ceremony,
        ):
            record_event(
                EventType.DISPOSAL_REQUESTED,
                actor=actor,
                sample=tube,
                reason=why,
                details={"disposal_ceremony": participant.disposal_ceremony},
            )
    db.session.flush()
    return list(tubes)
