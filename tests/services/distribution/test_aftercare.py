"""A participant who withdraws after distribution: the studies to notify, under the pseudonym
each study knows them by."""

from __future__ import annotations

import pytest

from biobank.db import utcnow
from biobank.errors import Forbidden
from biobank.models import SampleStatus
from biobank.services.collecting import participants
from biobank.services.distribution import aftercare, requests
from biobank.services.distribution.pseudonyms import study_pseudonym
from biobank.services.reporting import reports
from biobank.unit_of_work import unit_of_work
from tests.services.distribution.shipping_to_studies import (
    pick_all,
    ship,
    shipped_request,
    take_back,
    withdraw,
)

FIRST, SECOND = "P100000001", "P100000002"


@pytest.fixture
def shipped(coordinator, technician, store_participant, make_request):
    """A request of two participants' serum tubes (two each), picked and shipped."""
    request, sent = shipped_request(
        coordinator, technician, store_participant, make_request, (FIRST, SECOND)
    )
    assert len(sent) == 4
    return request, sent


def test_a_participant_who_withdraws_after_distribution_lists_the_studies_to_notify(
    coordinator, shipped, protocol
):
    withdraw(coordinator, FIRST)
    [person] = aftercare.studies_to_notify(coordinator)
    assert person.participant_id == FIRST
    assert person.withdrawal_reason == "changed their mind"
    [study] = person.studies
    assert study.protocol.id == protocol.id
    assert (study.protocol.title, study.protocol.approval_number) == (
        "Serum proteomics of early-onset diabetes",
        "IRB-2026-0142",
    )
    assert study.protocol.institution == "University of Somewhere"
    assert study.protocol.responsible_person == "Dr Ada Researcher"
    assert len(study.sent) == 2 and study.held == study.sent
    assert not study.sent_after_withdrawal


def test_the_study_knows_the_participant_by_its_pseudonym_never_the_participant_id(
    coordinator, shipped, protocol
):
    withdraw(coordinator, FIRST)
    [study] = aftercare.studies_to_notify(coordinator)[0].studies
    assert study.pseudonym == study_pseudonym(FIRST, protocol)
    assert FIRST not in study.pseudonym
    assert study.pseudonym.startswith("SP-")


def test_a_participant_not_withdrawn_or_whose_tubes_never_left_is_not_listed(
    coordinator, technician, shipped, store_participant, make_request
):
    assert aftercare.studies_to_notify(coordinator) == []
    # Withdrawn, but only reserved (not shipped): the biobank still holds the tubes.
    store_participant("P100000003")
    held = make_request(participants_wanted=1)
    with unit_of_work():
        requests.approve(coordinator, held)
    withdraw(coordinator, "P100000003")
    assert aftercare.studies_to_notify(coordinator) == []


def test_each_study_that_received_tubes_is_listed_with_its_own_pseudonym(
    coordinator, technician, shipped, make_protocol, make_request, store_participant
):
    second = make_protocol(title="Plasma metabolomics", approval_number="IRB-2026-0200")
    plasma = make_request(under=second, specimen="plasma", participants_wanted=1)
    with unit_of_work():
        approval = requests.approve(coordinator, plasma, None)
    assert approval.reserved
    pick_all(technician, plasma)
    ship(technician, plasma)
    who = plasma_participant = (
        FIRST
        if any(
            tube.collection.participant_id == FIRST for tube in _tubes_by_barcode(approval.reserved)
        )
        else SECOND
    )
    withdraw(coordinator, who)
    [person] = aftercare.studies_to_notify(coordinator)
    assert person.participant_id == plasma_participant
    by_number = {study.protocol.approval_number: study for study in person.studies}
    assert set(by_number) == {"IRB-2026-0142", "IRB-2026-0200"}
    assert by_number["IRB-2026-0142"].pseudonym != by_number["IRB-2026-0200"].pseudonym
    assert by_number["IRB-2026-0200"].pseudonym == study_pseudonym(who, second)


def _tubes_by_barcode(barcodes):
    import sqlalchemy as sa

    from biobank.extensions import db
    from biobank.models import Sample

    return db.session.scalars(sa.select(Sample).where(Sample.barcode.in_(barcodes))).all()


def test_returned_tubes_are_counted_and_the_study_is_still_listed(coordinator, technician, shipped):
    request, _ = shipped
    withdraw(coordinator, FIRST)
    study = aftercare.studies_to_notify(coordinator)[0].studies[0]
    back = study.sent[0]
    take_back(technician, request, back)
    study = aftercare.studies_to_notify(coordinator)[0].studies[0]
    assert study.returned == [back]
    assert study.held == [b for b in study.sent if b != back]
    take_back(technician, request, study.held[0])
    study = aftercare.studies_to_notify(coordinator)[0].studies[0]
    assert study.held == [] and len(study.returned) == 2


def test_tubes_sent_after_the_withdrawal_are_marked(
    coordinator, technician, store_participant, make_request
):
    store_participant(FIRST)
    request = make_request(participants_wanted=1)
    with unit_of_work():
        requests.approve(coordinator, request)
    pick_all(technician, request)
    # Withdrawn while the tubes were picked, but the enrollment system said so only after
    # they were shipped (a withdrawal known in time refuses the dispatch: test_outbound).
    withdrew_at = utcnow()
    ship(technician, request)
    withdraw(coordinator, FIRST, at=withdrew_at)
    [study] = aftercare.studies_to_notify(coordinator)[0].studies
    assert study.sent_after_withdrawal


def test_one_participant_can_be_asked_for(coordinator, shipped):
    withdraw(coordinator, FIRST)
    withdraw(coordinator, SECOND)
    assert {p.participant_id for p in aftercare.studies_to_notify(coordinator)} == {
        FIRST,
        SECOND,
    }
    [only] = aftercare.studies_to_notify(coordinator, participant_id=SECOND)
    assert only.participant_id == SECOND


def test_the_list_is_for_report_readers(technician, collector, shipped):
    for user in (technician, collector):
        with pytest.raises(Forbidden):
            aftercare.studies_to_notify(user)


def test_distributed_tubes_leave_the_disposal_list(coordinator, shipped):
    """The biobank cannot dispose of a tube a study holds: it is on the studies to notify."""
    withdraw(coordinator, FIRST)
    listed = reports.disposal_list(coordinator).items
    assert all(tube.status != SampleStatus.DISTRIBUTED for tube in listed)
    # The participant's plasma tube stayed at the biobank: it is to be disposed of.
    assert len(listed) == 1
    assert participants.tubes_to_dispose(FIRST) == 1
