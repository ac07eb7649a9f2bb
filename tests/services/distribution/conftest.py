"""A biobank with stored tubes from several participants, and a study protocol, built through
the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from biobank.db import utcnow
from biobank.models import DistributionProtocol, DistributionRequest, Sample, User
from biobank.services.collecting import participants
from biobank.services.distribution import outbound, picking, protocols, requests
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import BIOBANK_TIMEZONE

# Two serum tubes and one plasma tube per participant.
KIT = ["1SST8", "2SST8", "1PST8"]


def today() -> date:
    """Today at the test biobank, the day its approval and collection dates count in: from
    about 18:00 there UTC's date is already tomorrow, so a date one day before UTC's is not
    yet past."""
    return utcnow().astimezone(ZoneInfo(BIOBANK_TIMEZONE)).date()


@pytest.fixture
def store_participant(coordinator, technician, collector, boxes, received_tubes):
    """``store_participant(pid, consent=True)``: a collection for the participant, shipped,
    received and stored; their tubes by id."""
    stored = []

    def store(participant_id: str, *, consent: bool | None = True) -> list[Sample]:
        """``consent``: None leaves the participant unknown to the system; False records
        consent withheld once the tubes are stored (a collection would be refused)."""
        if consent is not None:
            with unit_of_work():
                participants.upsert_participant(
                    coordinator, participant_id, biospecimen_consent=True
                )
        tubes = received_tubes(collector, participant_id=participant_id, tube_types=KIT)
        with unit_of_work():
            for tube in tubes:
                placing.store_sample(technician, boxes[len(stored) // 81], tube.barcode)
                stored.append(tube)
        if consent is False:
            with unit_of_work():
                participants.upsert_participant(
                    coordinator, participant_id, biospecimen_consent=False
                )
        return sorted(tubes, key=lambda tube: tube.id)

    return store


def protocol_fields(**changes) -> dict:
    fields = {
        "title": "Serum proteomics of early-onset diabetes",
        "approval_number": "IRB-2026-0142",
        "approval_expires_on": today() + timedelta(days=365),
        "institution": "University of Somewhere",
        "institution_address": "1 Science Way, Somewhere, MN 55905",
        "responsible_person": "Dr Ada Researcher",
        "specimens": ["serum", "plasma"],
    }
    fields.update(changes)
    return fields


@pytest.fixture
def make_protocol(coordinator) -> Callable[..., DistributionProtocol]:
    def make(actor: User | None = None, **changes) -> DistributionProtocol:
        with unit_of_work():
            return protocols.create_protocol(actor or coordinator, **protocol_fields(**changes))

    return make


@pytest.fixture
def protocol(make_protocol) -> DistributionProtocol:
    return make_protocol()


def request_fields(**changes) -> dict:
    fields = {
        "specimen": "serum",
        "participants_wanted": 2,
        "tubes_per_participant": 2,
        "min_volume_ml": "1",
        "max_freeze_thaw": 2,
        "collected_from": today() - timedelta(days=7),
        "collected_to": today(),
    }
    fields.update(changes)
    return fields


@pytest.fixture
def make_request(coordinator, protocol) -> Callable[..., DistributionRequest]:
    def make(under: DistributionProtocol | None = None, **changes) -> DistributionRequest:
        with unit_of_work():
            return requests.record_request(
                coordinator, under or protocol, **request_fields(**changes)
            )

    return make


@pytest.fixture
def approved(coordinator, store_participant, make_request):
    """A request approved with four serum tubes of two participants (P100000001 and
    P100000002; their plasma tubes stay free), and every tube stored: (request, tubes)."""
    stored = store_participant("P100000001") + store_participant("P100000002")
    request = make_request()
    with unit_of_work():
        requests.approve(coordinator, request)
    return request, stored


@pytest.fixture
def shipment(technician, approved):
    """The approved request's outbound shipment, open, with three of its four tubes picked
    (in pick-list order) and none packed yet."""
    request, _ = approved
    rows = picking.pick_list(technician, request).rows
    with unit_of_work():
        for row in rows[:3]:
            picking.pick(technician, request, row.barcode)
        return outbound.open_shipment(technician, request)
