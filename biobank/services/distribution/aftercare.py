"""After distribution: the studies to tell when a participant withdraws.

A participant who withdraws after some of their tubes went to studies is on the withdrawal list
with each study that received them: the protocol (title, approval number, the receiving
institution and the responsible person, as the dispatch recorded them), the **study
pseudonym** under which that study knows the participant (the one on its manifest; the study
is never told the participant ID), the tubes it received and those it sent back. The
coordinator reading the list sees the participant ID beside the pseudonyms; a letter to the
study names the pseudonym only.

What went where is read from the chain of custody, which outlives every other record: each
tube that left for a study has a ``distributed`` event naming the protocol, the request and
the pseudonym (``outbound.dispatch``), and each tube a study sent back a ``received`` event
naming the request it returned from (``outbound.receive_return``). A study that received a
tube is listed even when every tube came back: it has known the participant, and may hold
data from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from biobank.errors import NotFound
from biobank.extensions import db
from biobank.models import (
    Collection,
    DistributionProtocol,
    Event,
    EventType,
    Participant,
    Sample,
    User,
)
from biobank.services.collecting import participants
from biobank.services.core import policy
from biobank.services.distribution.pseudonyms import study_pseudonym


@dataclass
class StudyToNotify:
    """One study that received a withdrawn participant's tubes."""

    protocol: DistributionProtocol
    # How the study knows the participant: the pseudonym on its manifest.
    pseudonym: str
    sent: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    # Set when a tube left for the study on or after the participant's withdrawal.
    sent_after_withdrawal: bool = False

    @property
    def held(self) -> list[str]:
        """The tubes the study still has (sent and not returned)."""
        back = set(self.returned)
        return [barcode for barcode in self.sent if barcode not in back]


@dataclass
class WithdrawnParticipant:
    """A withdrawn participant whose tubes went to studies, and the studies to notify."""

    participant_id: str
    withdrawn_at: datetime
    withdrawal_reason: str | None
    studies: list[StudyToNotify] = field(default_factory=list)


@dataclass
class ParticipantStudies:
    """One participant, withdrawn or not, and the studies to notify (none unless withdrawn)."""

    participant_id: str
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    studies: list[StudyToNotify] = field(default_factory=list)


def _custody_rows(participant_id: str | None) -> Iterable[Any]:
    """The distributed events and the returns of withdrawn participants' tubes, oldest first."""
    stmt = (
        sa.select(
            Event.type,
            Event.at,
            Event.details,
            Sample.barcode,
            Participant.participant_id,
            Participant.withdrawn_at,
            Participant.withdrawal_reason,
        )
        .join(Sample, Sample.id == Event.sample_id)
        .join(Collection, Collection.id == Sample.collection_id)
        .join(Participant, Participant.participant_id == Collection.participant_id)
        .where(
            Event.type.in_([EventType.DISTRIBUTED, EventType.RECEIVED]),
            Participant.withdrawn_at.is_not(None),
        )
        .order_by(Event.at, Event.id)
    )
    if participant_id is not None:
        stmt = stmt.where(Participant.participant_id == participant_id)
    return db.session.execute(stmt)


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def studies_to_notify(
    actor: User, *, participant_id: str | None = None
) -> list[WithdrawnParticipant]:
    """Every withdrawn participant (or the one named) with tubes that went to studies whose
    protocols the actor's site may see, each with the studies to notify; participants by
    withdrawal (most recent first), studies by when they first received a tube."""
    policy.require(actor, policy.Action.READ_REPORTS)
    found: dict[str, WithdrawnParticipant] = {}
    studies: dict[tuple[str, int], StudyToNotify] = {}
    # Returns by (participant, request): a return names the request, not the protocol.
    by_request: dict[tuple[str, int], StudyToNotify] = {}
    returns: list[tuple[str, int, str]] = []
    protocol_ids: set[int] = set()
    rows = list(_custody_rows(participant_id))
    for row in rows:
        details = row.details or {}
        if row.type == EventType.DISTRIBUTED and _whole(details.get("protocol")) is not None:
            protocol_ids.add(details["protocol"])
    protocols = {
        protocol.id: protocol
        for protocol in db.session.scalars(
            policy.scope_protocols(
                sa.select(DistributionProtocol).where(
                    DistributionProtocol.id.in_(sorted(protocol_ids))
                ),
                actor,
            )
        )
    }
    for row in rows:
        details = row.details or {}
        request_id = _whole(details.get("request"))
        if row.type == EventType.RECEIVED:
            if request_id is not None:
                returns.append((row.participant_id, request_id, row.barcode))
            continue
        protocol = protocols.get(_whole(details.get("protocol")) or 0)
        if protocol is None:
            continue
        person = found.setdefault(
            row.participant_id,
            WithdrawnParticipant(row.participant_id, row.withdrawn_at, row.withdrawal_reason),
        )
        study = studies.get((row.participant_id, protocol.id))
        if study is None:
            pseudonym = details.get("pseudonym") or study_pseudonym(row.participant_id, protocol)
            study = StudyToNotify(protocol, str(pseudonym), first_sent_at=row.at)
            studies[(row.participant_id, protocol.id)] = study
            person.studies.append(study)
        if row.barcode not in study.sent:
            study.sent.append(row.barcode)
        study.last_sent_at = row.at
        study.sent_after_withdrawal |= row.at >= row.withdrawn_at
        if request_id is not None:
            by_request[(row.participant_id, request_id)] = study
    for pid, request_id, barcode in returns:
        returned_to = by_request.get((pid, request_id))
        if (
            returned_to is not None
            and barcode in returned_to.sent
            and barcode not in returned_to.returned
        ):
            returned_to.returned.append(barcode)
    return sorted(
        found.values(),
        key=lambda person: (-person.withdrawn_at.timestamp(), person.participant_id),
    )


def participant_studies(actor: User, participant_id: str) -> ParticipantStudies:
    """The studies to notify of one participant's withdrawal, for the enrollment system that
    reported it: none while the participant has not withdrawn. A malformed participant ID is
    refused naming the field; one the enrollment system never sent is not found."""
    policy.require(actor, policy.Action.READ_REPORTS)
    participant_id = participants.participant_id_field(participant_id)
    participant = participants.find_participant(participant_id)
    if participant is None:
        raise NotFound(
            f"No participant {participant_id} is known here: the enrollment system has not "
            "sent their consent."
        )
    found = studies_to_notify(actor, participant_id=participant_id)
    return ParticipantStudies(
        participant.participant_id,
        participant.withdrawn_at,
        participant.withdrawal_reason,
        found[0].studies if found else [],
    )
