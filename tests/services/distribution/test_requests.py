from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    DistributionItem,
    Event,
    RequestStatus,
    Role,
    SiteKind,
)
from biobank.services.collecting import participants
from biobank.services.core.custody_log import verify_chain
from biobank.services.distribution import protocols, requests
from biobank.services.storage import lifecycle
from biobank.unit_of_work import unit_of_work
from tests.services.distribution.conftest import request_fields, today


def _serum(tubes):
    return [t for t in tubes if t.tube_type.specimen == "serum"]


def _events(kind, tubes):
    return db.session.scalars(
        sa.select(Event)
        .where(Event.type == kind, Event.sample_id.in_([t.id for t in tubes]))
        .order_by(Event.id)
    ).all()


# --- recording -------------------------------------------------------------------------------


def test_a_request_is_recorded_as_a_draft(coordinator, make_request, protocol):
    made = make_request(notes="first batch")
    assert made.status == RequestStatus.DRAFT
    assert made.protocol is protocol
    assert made.tubes_wanted == 4
    assert made.recorded_by_id == coordinator.id


def test_every_bad_field_of_a_request_is_named(coordinator, protocol):
    bad = request_fields(
        specimen="urine",
        participants_wanted=0,
        tubes_per_participant=True,
        min_volume_ml="lots",
        max_freeze_thaw=-1,
        collected_from="yesterday",
        collected_to=today(),
        sample_ids="7KQ2M9XD3E",
    )
    with pytest.raises(ValidationFailed) as refused:
        requests.record_request(coordinator, protocol, **bad)
    errors = refused.value.errors
    assert set(errors) == {
        "specimen",
        "participants_wanted",
        "tubes_per_participant",
        "min_volume_ml",
        "max_freeze_thaw",
        "collected_from",
        "sample_ids",
    }
    assert errors["specimen"] == [
        "Protocol IRB-2026-0142 may receive plasma, serum; 'urine' is not one of them."
    ]
    assert errors["participants_wanted"] == [
        "Give the number of participants as a whole number from 1 to 10000."
    ]


def test_dates_in_the_wrong_order_and_too_many_tubes_are_refused(coordinator, protocol):
    with pytest.raises(ValidationFailed) as refused:
        requests.record_request(
            coordinator,
            protocol,
            **request_fields(
                participants_wanted=2000,
                tubes_per_participant=5,
                collected_from=today(),
                collected_to=today() - timedelta(days=1),
            ),
        )
    assert refused.value.errors == {
        "participants_wanted": [
            "2000 participants x 5 tubes is 10000 tubes: one request takes at most 5000."
        ],
        "collected_to": ["The last collection day is before the first: swap them."],
    }


def test_named_sample_ids_must_exist_at_this_biobank(
    coordinator, protocol, store_participant, received_tubes, collector
):
    [held, *_] = store_participant("P100000001")
    with pytest.raises(ValidationFailed) as refused:
        requests.record_request(
            coordinator,
            protocol,
            **request_fields(sample_ids=[held.display_barcode, "7KQ2M9XD3E", "7KQ2M9XD3X"]),
        )
    assert "check character" in refused.value.errors["sample_ids"][0]
    with pytest.raises(ValidationFailed) as refused:
        requests.record_request(
            coordinator, protocol, **request_fields(sample_ids=[held.barcode, "7KQ2M9XD3E"])
        )
    assert refused.value.errors["sample_ids"] == [
        "7KQ2M-9XD3E: no such tube is held at MAYO-BB. Check the IDs the study sent."
    ]
    with unit_of_work():
        named = requests.record_request(
            coordinator, protocol, **request_fields(sample_ids=[held.display_barcode.lower()])
        )
    assert named.sample_barcodes == [held.barcode]


def test_a_request_under_a_closed_protocol_is_refused(coordinator, protocol):
    with unit_of_work():
        protocols.close_protocol(coordinator, protocol, "study ended")
    with pytest.raises(Conflict, match=r"was closed on .*takes no new requests"):
        requests.record_request(coordinator, protocol, **request_fields())


def test_only_the_protocols_biobank_sees_and_records_its_requests(
    make_request, make_site, make_user, technician
):
    made = make_request()
    stranger = make_user("tech.other", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK))
    assert requests.get_request(technician, made.id) is made
    with pytest.raises(NotFound):
        requests.get_request(stranger, made.id)
    with pytest.raises(Forbidden):
        requests.record_request(technician, made.protocol, **request_fields())
    with pytest.raises(Forbidden):
        requests.approve(technician, made)


# --- proposing -------------------------------------------------------------------------------


def test_propose_offers_only_tubes_that_may_go_to_research(
    coordinator, technician, store_participant, make_request
):
    good = store_participant("P100000001")
    withdrawn = store_participant("P100000002")
    refused_consent = store_participant("P100000003", consent=False)
    unknown = store_participant("P100000004", consent=None)
    with unit_of_work():
        participants.upsert_participant(
            coordinator, "P100000002", biospecimen_consent=True, withdrawn_at=utcnow()
        )
    proposal = requests.propose(coordinator, make_request(participants_wanted=10))
    assert proposal.barcodes == [t.barcode for t in _serum(good)]
    assert proposal.participants == 1
    assert (proposal.participants_short, proposal.tubes_short) == (9, 18)
    for excluded in (withdrawn, refused_consent, unknown):
        assert not {t.barcode for t in excluded} & set(proposal.barcodes)


def test_propose_leaves_out_quarantined_low_volume_thawed_and_unstored_tubes(
    coordinator, technician, store_participant, make_request
):
    tubes = store_participant("P100000001")
    first, second = _serum(tubes)
    with unit_of_work():
        lifecycle.quarantine(technician, first.barcode, "cap cracked")
    request = make_request(tubes_per_participant=2)
    assert requests.propose(coordinator, request).barcodes == [second.barcode]
    with unit_of_work():
        lifecycle.release(technician, first.barcode, "cap fine after all")
        lifecycle.aliquot(technician, first.barcode, count=1, volume_ml="7.5")  # 0.5 mL left
        for _ in range(3):
            lifecycle.thaw(technician, second.barcode)
    assert requests.propose(coordinator, request).barcodes == []  # 0.5 mL < 1; 3 thaws > 2
    assert requests.propose(
        coordinator, make_request(min_volume_ml="0.5", max_freeze_thaw=3)
    ).barcodes == [first.barcode, second.barcode]
    with unit_of_work():
        lifecycle.check_out(technician, first.barcode, "assay")
    assert requests.propose(
        coordinator, make_request(min_volume_ml="0.5", max_freeze_thaw=3)
    ).barcodes == [second.barcode]


def test_propose_keeps_to_the_collection_dates_and_specimen(
    coordinator, store_participant, make_request
):
    tubes = store_participant("P100000001")
    before = make_request(
        collected_from=today() - timedelta(days=30), collected_to=today() - timedelta(days=2)
    )
    assert requests.propose(coordinator, before).barcodes == []
    plasma = make_request(specimen="plasma", tubes_per_participant=5)
    assert requests.propose(coordinator, plasma).barcodes == [
        t.barcode for t in tubes if t.tube_type.code == "1PST8"
    ]


def test_propose_takes_fewest_thaws_first_per_participant_and_complete_sets_first(
    coordinator, technician, store_participant, make_request
):
    a = _serum(store_participant("P100000001"))
    b = _serum(store_participant("P100000002"))
    c = _serum(store_participant("P100000003"))
    with unit_of_work():
        lifecycle.thaw(technician, a[0].barcode)  # a: 1 + 0 thaws
        lifecycle.thaw(technician, c[1].barcode)  # c: 0 + 1 thaws
        lifecycle.thaw(technician, c[0].barcode)
        lifecycle.thaw(technician, c[0].barcode)  # c: 2 + 1 thaws
        lifecycle.quarantine(technician, b[1].barcode, "in doubt")  # b: one tube only
    proposal = requests.propose(coordinator, make_request(participants_wanted=2))
    # a (complete, 1 thaw) before c (complete, 3 thaws); b has no complete set.
    assert proposal.barcodes == [a[1].barcode, a[0].barcode, c[1].barcode, c[0].barcode]
    assert [t.participant_id for t in proposal.tubes] == ["P100000001"] * 2 + ["P100000003"] * 2
    one_each = requests.propose(
        coordinator, make_request(participants_wanted=3, tubes_per_participant=1)
    )
    # one tube each: the fewest thaws, ties by id.
    assert one_each.barcodes == [a[1].barcode, b[0].barcode, c[1].barcode]
    assert one_each.barcodes == requests.propose(coordinator, one_each.request).barcodes


def _proposed_by_the_rule(tubes_by_participant, participants_wanted, tubes_per_participant):
    """The proposal as the rule reads, written plainly: each participant's fewest-thaw tubes
    (ties by id), complete sets first, then the fewest thaws, then the lower id."""
    kept = {
        pid: sorted(tubes, key=lambda t: (t.freeze_thaw_count, t.id))[:tubes_per_participant]
        for pid, tubes in tubes_by_participant.items()
        if tubes
    }
    ranked = sorted(
        kept.values(),
        key=lambda own: (-len(own), sum(t.freeze_thaw_count for t in own), min(t.id for t in own)),
    )
    return [t.barcode for own in ranked[:participants_wanted] for t in own]


def test_propose_chooses_as_the_rule_reads_on_mixed_thaws_and_gaps(
    coordinator, technician, store_participant, make_request
):
    # Seeded, so the same tubes are thawed and set aside on every run.
    chance = random.Random(20)
    serum = {f"P1000000{n:02d}": _serum(store_participant(f"P1000000{n:02d}")) for n in range(7)}
    with unit_of_work():
        for tubes in serum.values():
            for tube in tubes:
                for _ in range(chance.choice([0, 0, 1, 2, 3])):
                    lifecycle.thaw(technician, tube.barcode)
            if chance.random() < 0.3:
                lifecycle.quarantine(technician, tubes[0].barcode, "in doubt")
    offered = {
        pid: [t for t in tubes if t.freeze_thaw_count <= 2 and not t.flags]
        for pid, tubes in serum.items()
    }
    for wanted, each in [(1, 1), (3, 1), (3, 2), (5, 2), (7, 2), (4, 3)]:
        request = make_request(participants_wanted=wanted, tubes_per_participant=each)
        assert requests.propose(coordinator, request).barcodes == _proposed_by_the_rule(
            offered, wanted, each
        ), (wanted, each)


def test_a_request_naming_its_tubes_is_offered_only_those(
    coordinator, technician, store_participant, make_request
):
    a = _serum(store_participant("P100000001"))
    b = _serum(store_participant("P100000002"))
    with unit_of_work():
        lifecycle.thaw(technician, b[0].barcode)
        lifecycle.thaw(technician, b[0].barcode)
        lifecycle.thaw(technician, b[0].barcode)
    named = make_request(sample_ids=[a[0].barcode, b[0].barcode, b[1].barcode])
    proposal = requests.propose(coordinator, named)
    assert proposal.barcodes == [a[0].barcode, b[1].barcode]
    assert proposal.not_offered == [b[0].barcode]


# --- approving and releasing -----------------------------------------------------------------


def test_approving_reserves_the_proposed_tubes_with_their_events(
    coordinator, store_participant, make_request
):
    tubes = _serum(store_participant("P100000001") + store_participant("P100000002"))
    request = make_request()
    with unit_of_work():
        approval = requests.approve(coordinator, request)
    assert sorted(approval.reserved) == sorted(t.barcode for t in tubes)
    assert (approval.taken, approval.unavailable) == ({}, [])
    assert approval.summary == "Reserved 4 of the 4 tubes chosen."
    assert request.status == RequestStatus.APPROVED
    assert request.approved_by_id == coordinator.id
    assert all(t.reserved_for_request_id == request.id for t in tubes)
    events = _events("reserved", tubes)
    assert len(events) == 4
    assert events[0].details == {
        "request": request.id,
        "protocol": request.protocol_id,
        "approval_number": "IRB-2026-0142",
    }
    assert events[0].site.code == "MAYO-BB"
    items = db.session.scalars(sa.select(DistributionItem)).all()
    assert sorted(i.sample_id for i in items) == sorted(t.id for t in tubes)
    assert verify_chain().intact
    with pytest.raises(InvalidTransition, match=f"Request {request.id} is approved"):
        requests.approve(coordinator, request)
    assert requests.propose(coordinator, make_request()).barcodes == []  # all reserved
    assert requests.reserved_tubes(request) == sorted(tubes, key=lambda t: t.id)


def test_a_second_request_gets_what_is_left_and_is_told_what_was_taken(
    coordinator, store_participant, make_request
):
    a = _serum(store_participant("P100000001"))
    b = _serum(store_participant("P100000002"))
    first, second = make_request(participants_wanted=1), make_request()
    chosen = requests.propose(coordinator, second).barcodes  # a and b, before first approves
    with unit_of_work():
        requests.approve(coordinator, first)  # takes a
    with unit_of_work():
        approval = requests.approve(coordinator, second, chosen)
    assert approval.reserved == [t.barcode for t in b]  # by id
    assert approval.taken == {t.barcode: first.id for t in a}
    assert approval.summary == (
        "Reserved 2 of the 4 tubes chosen; 2 were reserved for another request meanwhile."
    )


def test_an_approval_that_gets_nothing_leaves_the_request_a_draft(
    coordinator, technician, store_participant, make_request
):
    a = _serum(store_participant("P100000001"))
    first, second = make_request(), make_request()
    chosen = requests.propose(coordinator, second).barcodes
    with unit_of_work():
        requests.approve(coordinator, first)
    with pytest.raises(Conflict) as refused:
        requests.approve(coordinator, second, chosen)
    assert refused.value.detail == (
        "Reserved 0 of the 2 tubes chosen; 2 were reserved for another request meanwhile. "
        f"Request {second.id} stays a draft: propose its tubes again."
    )
    assert refused.value.extra["taken"] == {t.barcode: first.id for t in a}
    db.session.rollback()
    assert second.status == RequestStatus.DRAFT
    with pytest.raises(Conflict, match="No tube matches request"):
        requests.approve(coordinator, second)


def test_approving_a_tube_that_no_longer_matches_says_so(
    coordinator, technician, store_participant, make_request
):
    a = _serum(store_participant("P100000001"))
    request = make_request(participants_wanted=1)
    chosen = requests.propose(coordinator, request).barcodes
    with unit_of_work():
        lifecycle.thaw(technician, a[0].barcode)
        lifecycle.thaw(technician, a[0].barcode)
        lifecycle.thaw(technician, a[0].barcode)
    with unit_of_work():
        approval = requests.approve(coordinator, request, chosen)
    assert (approval.reserved, approval.unavailable) == ([a[1].barcode], [a[0].barcode])
    with pytest.raises(ValidationFailed, match="no such tube"):
        requests.approve(coordinator, make_request(), ["7KQ2M9XD3E"])


def test_releasing_frees_the_tubes_with_a_reason_and_events(
    coordinator, store_participant, make_request
):
    tubes = _serum(store_participant("P100000001"))
    request = make_request(participants_wanted=1)
    with unit_of_work():
        requests.approve(coordinator, request)
    with pytest.raises(ValidationFailed, match="Give a reason"):
        requests.release(coordinator, request, "")
    with pytest.raises(Conflict, match="not reserved for request"):
        requests.release(coordinator, request, "study asked", barcodes=["7KQ2M9XD3E"])
    with unit_of_work():
        released = requests.release(
            coordinator, request, "study needs one only", barcodes=[tubes[0].barcode]
        )
    assert released == [tubes[0].barcode]
    assert tubes[0].reserved_for_request_id is None
    assert tubes[1].reserved_for_request_id == request.id
    [event] = _events("released", tubes)
    assert event.reason == "study needs one only"
    item = db.session.scalar(
        sa.select(DistributionItem).where(DistributionItem.sample_id == tubes[0].id)
    )
    assert item.released_at is not None and item.release_reason == "study needs one only"
    with unit_of_work():
        assert requests.cancel_request(coordinator, request, "study withdrawn") == [
            tubes[1].barcode
        ]
    assert request.status == RequestStatus.CANCELLED
    assert tubes[1].reserved_for_request_id is None
    with pytest.raises(InvalidTransition, match="holds no reserved tubes"):
        requests.release(coordinator, request, "again")
    assert verify_chain().intact


# --- guards on the tubes' other writes ---------------------------------------------------------


def test_a_reserved_tube_is_not_checked_out_aliquoted_withdrawn_or_disposed(
    coordinator, technician, store_participant, make_request
):
    from tests.conftest import PASSWORD

    tube = _serum(store_participant("P100000001"))[0]
    request = make_request(participants_wanted=1)
    with unit_of_work():
        requests.approve(coordinator, request)
    said = (
        f"Tube {tube.display_barcode} is reserved for distribution request {request.id} under "
        "protocol IRB-2026-0142 (Serum proteomics of early-onset diabetes): release the "
        "reservation before "
    )
    attempts = {
        "checking it out": lambda: lifecycle.check_out(technician, tube.barcode, "assay"),
        "aliquoting it": lambda: lifecycle.aliquot(
            technician, tube.barcode, count=1, volume_ml="1"
        ),
        "withdrawing it": lambda: lifecycle.withdraw(technician, tube.barcode, "consent"),
        "disposing of it": lambda: lifecycle.dispose(
            technician, tube.barcode, "broken", signature_password=PASSWORD
        ),
    }
    for doing, attempt in attempts.items():
        with pytest.raises(Conflict) as refused:
            attempt()
        assert refused.value.detail == said + doing + "."
        assert refused.value.status == 409
        db.session.rollback()
    assert (
        lifecycle.offered_actions(technician, tube)
        & {
            "check_out",
            "aliquot",
            "withdraw",
            "dispose",
        }
        == set()
    )
    with unit_of_work():
        lifecycle.thaw(technician, tube.barcode)  # handling in place is fine
        requests.release(coordinator, request, "study changed its mind")
    with unit_of_work():
        lifecycle.check_out(technician, tube.barcode, "assay")
