from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from biobank.db import utcnow
from biobank.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Centrifuge,
    CollectionStatus,
    Event,
    EventType,
    SampleStatus,
)
from biobank.services.collecting import collections, participants
from biobank.services.collecting.collections import TubeCorrection
from biobank.services.core.custody_log import verify_chain
from biobank.unit_of_work import unit_of_work


def _sample(collection, code):
    return next(s for s in collection.samples if s.tube_type.code == code)


def _events(**where):
    stmt = sa.select(Event).order_by(Event.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(Event, key) == value)
    return db.session.scalars(stmt).all()


def test_start_with_a_kit_makes_one_pending_tube_per_tube_type(collector, start_collection):
    collection = start_collection(collector)
    assert collection.status == CollectionStatus.DRAFT
    assert [s.tube_type.code for s in collection.samples] == [
        "1SST8",
        "1PST8",
        "1HEP4",
        "1ED04",
        "1ED10",
        "1CFD9",
        "1PXR2",
        "1UR10",
    ]
    assert {s.status for s in collection.samples} == {SampleStatus.PENDING}
    assert len({s.barcode for s in collection.samples}) == 8
    assert all(s.site_id == collector.site_id for s in collection.samples)
    created = _events(type="created")
    assert len(created) == 9  # the collection and each tube
    assert verify_chain().intact


def test_start_with_a_tube_list(collector, start_collection):
    collection = start_collection(collector, tube_types=["1ed04", "1UR10"])
    assert [s.tube_type.code for s in collection.samples] == ["1ED04", "1UR10"]
    assert collection.kit is None


def test_a_tube_type_goes_once_per_collection(collector, start_collection):
    with pytest.raises(ValidationFailed, match="more than once") as error:
        start_collection(collector, tube_types=["1ED04", "1ED04"])
    assert "tube_types" in error.value.errors


def test_no_kit_and_two_kinds_of_tubes_are_told_apart(collector):
    from biobank.services.collecting import collections

    with pytest.raises(ValidationFailed) as neither:
        collections.start_collection(collector, participant_id="P123456789")
    assert neither.value.errors["kit"][0].startswith("Choose the kit being drawn")
    with pytest.raises(ValidationFailed) as both:
        collections.start_collection(
            collector, participant_id="P123456789", kit="BASELINE-ADULT", tube_types=["1ED04"]
        )
    assert both.value.errors["kit"][0].startswith("Choose a kit or list the tube types, not both")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kit": "BASELINE-ADULT", "tube_types": ["1ED04"]}, "kit"),
        ({"tube_types": ["9XX99"]}, "tube_types"),
        ({"kit": "NO-SUCH-KIT"}, "kit"),
        ({"kit": "BASELINE-ADULT", "notes": "call mum on 858-555-0101"}, "notes"),
    ],
)
def test_bad_starts_name_the_field(collector, start_collection, kwargs, field):
    with pytest.raises(ValidationFailed) as error:
        start_collection(collector, **kwargs)
    assert field in error.value.errors


@pytest.mark.parametrize("participant_id", ["123456789", "P12345678", "X123456789", ""])
def test_participant_id_must_match_the_pattern(collector, start_collection, participant_id):
    with pytest.raises(ValidationFailed, match="not a participant ID"):
        start_collection(collector, participant_id)


def test_participant_pattern_is_configurable(app, collector, start_collection):
    app.config["BIOBANK_PARTICIPANT_ID_PATTERN"] = r"^Q\d{4}$"
    assert start_collection(collector, "Q1234").participant_id == "Q1234"


def test_withdrawn_or_unconsented_participants_are_refused(
    coordinator, collector, start_collection
):
    with unit_of_work():
        participants.upsert_participant(coordinator, "P111111111", biospecimen_consent=False)
        participants.upsert_participant(
            coordinator,
            "P222222222",
            biospecimen_consent=True,
            withdrawn_at=utcnow() - timedelta(days=1),
        )
    with pytest.raises(ValidationFailed, match="not given biospecimen consent"):
        start_collection(collector, "P111111111")
    with pytest.raises(ValidationFailed, match="withdrawn"):
        start_collection(collector, "P222222222")
    assert start_collection(collector, "P333333333").status == CollectionStatus.DRAFT


def test_only_collectors_start_collections_and_only_at_their_site(
    technician, collector, other_clinic, start_collection
):
    with pytest.raises(Forbidden):
        start_collection(technician)
    with pytest.raises(Forbidden, match="own site"):
        start_collection(collector, site=other_clinic)


def test_collected_then_processed_moves_the_tube_on(collector, start_collection):
    collection = start_collection(collector)
    sst = _sample(collection, "1SST8")
    drawn = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_collected(collector, collection, sst.barcode, drawn)
    assert sst.status == SampleStatus.COLLECTED
    with unit_of_work():
        collections.record_processed(
            collector, collection, sst.barcode, drawn + timedelta(minutes=40)
        )
    assert sst.status == SampleStatus.PROCESSED
    assert [e.type for e in _events(sample_id=sst.id)] == ["created", "collected", "processed"]


def test_processed_at_or_before_collected_is_refused(collector, start_collection):
    collection = start_collection(collector)
    sst = _sample(collection, "1SST8")
    drawn = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_collected(collector, collection, sst.barcode, drawn)
    with pytest.raises(ValidationFailed, match="at or before it was collected") as error:
        collections.record_processed(collector, collection, sst.barcode, drawn)
    assert "processed_at" in error.value.errors


def test_processing_needs_a_collected_time_first(collector, start_collection):
    collection = start_collection(collector)
    with pytest.raises(ValidationFailed, match="collected first"):
        collections.record_processed(
            collector, collection, _sample(collection, "1SST8").barcode, utcnow()
        )


def test_only_sst_and_pst_are_processed(collector, start_collection):
    collection = start_collection(collector)
    edta = _sample(collection, "1ED04")
    with unit_of_work():
        collections.record_collected(collector, collection, edta.barcode, utcnow())
    with pytest.raises(ValidationFailed, match="not centrifuged"):
        collections.record_processed(collector, collection, edta.barcode, utcnow())


def test_times_more_than_five_minutes_ahead_are_refused(collector, start_collection):
    collection = start_collection(collector)
    tube = collection.samples[0]
    now = utcnow()
    with pytest.raises(ValidationFailed, match="in the future"):
        collections.record_collected(
            collector, collection, tube.barcode, now + timedelta(minutes=6), now=now
        )
    with unit_of_work():  # clock skew of a few minutes is tolerated
        collections.record_collected(
            collector, collection, tube.barcode, now + timedelta(minutes=4), now=now
        )


def test_sst_processed_within_30_minutes_is_a_warning_flag(collector, start_collection):
    collection = start_collection(collector)
    sst = _sample(collection, "1SST8")
    drawn = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_collected(collector, collection, sst.barcode, drawn)
        collections.record_processed(
            collector, collection, sst.barcode, drawn + timedelta(minutes=20)
        )
    assert sst.flag_kinds == ["early_processing"]
    [warning] = collections.warnings_for(collection)
    assert warning.barcode == sst.barcode
    assert "clotting" in warning.message


def test_pst_within_30_minutes_is_fine(collector, start_collection):
    collection = start_collection(collector)
    pst = _sample(collection, "1PST8")
    drawn = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_collected(collector, collection, pst.barcode, drawn)
        collections.record_processed(
            collector, collection, pst.barcode, drawn + timedelta(minutes=10)
        )
    assert pst.flag_kinds == []


@pytest.mark.parametrize(
    ("code", "hours", "flagged"),
    [("1SST8", 4.5, True), ("1PST8", 4.5, True), ("1PST8", 3.9, False)],
)
def test_late_processing_flags_sst_and_pst(collector, start_collection, code, hours, flagged):
    collection = start_collection(collector)
    tube = _sample(collection, code)
    drawn = utcnow() - timedelta(hours=6)
    with unit_of_work():
        collections.record_collected(collector, collection, tube.barcode, drawn)
        collections.record_processed(
            collector, collection, tube.barcode, drawn + timedelta(hours=hours)
        )
    assert ("late_processing" in tube.flag_kinds) is flagged


def test_correcting_times_clears_a_warning_that_no_longer_applies(collector, start_collection):
    collection = start_collection(collector)
    sst = _sample(collection, "1SST8")
    drawn = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_collected(collector, collection, sst.barcode, drawn)
        collections.record_processed(
            collector, collection, sst.barcode, drawn + timedelta(minutes=20)
        )
        collections.record_processed(
            collector, collection, sst.barcode, drawn + timedelta(minutes=45)
        )
    assert sst.flag_kinds == []
    flag_events = [e for e in _events(sample_id=sst.id) if e.type == "flagged"]
    assert [e.details.get("cleared", False) for e in flag_events] == [False, True]


@pytest.mark.parametrize(
    ("centrifuge", "start_code", "expected"),
    [
        (Centrifuge.FIXED_ANGLE, "1SST8", "2SST8"),
        (Centrifuge.SWINGING_BUCKET, "1SST8", "1SST8"),
        (Centrifuge.FIXED_ANGLE, "1PST8", "2PST8"),
    ],
)
def test_centrifuge_type_sets_the_tube_code(
    collector, start_collection, centrifuge, start_code, expected
):
    collection = start_collection(collector)
    tube = _sample(collection, start_code)
    drawn = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_collected(collector, collection, tube.barcode, drawn)
        collections.record_processed(
            collector,
            collection,
            tube.barcode,
            drawn + timedelta(minutes=40),
            centrifuge=centrifuge,
        )
    assert tube.tube_type.code == expected
    assert tube.centrifuge == centrifuge


def test_finalize_needs_every_time_and_says_which_are_missing(collector, start_collection):
    collection = start_collection(collector, tube_types=["1SST8", "1ED04"])
    sst, edta = collection.samples
    with unit_of_work():
        collections.record_collected(
            collector, collection, sst.barcode, utcnow() - timedelta(hours=1)
        )
    with pytest.raises(ValidationFailed) as error:
        collections.finalize_collection(collector, collection)
    problems = " ".join(error.value.errors["samples"])
    assert f"1SST8 {sst.display_barcode} has no processed time" in problems
    assert f"1ED04 {edta.display_barcode} has no collected time" in problems


def test_finalize_must_follow_every_time(collector, start_collection):
    collection = start_collection(collector, tube_types=["1ED04"])
    drawn = utcnow() - timedelta(minutes=30)
    with unit_of_work():
        collections.record_collected(collector, collection, collection.samples[0].barcode, drawn)
    with pytest.raises(ValidationFailed, match="after the finalize time"):
        collections.finalize_collection(collector, collection, at=drawn - timedelta(minutes=1))


def test_finalize_moves_every_tube_and_records_events(collector, finalized_collection):
    collection = finalized_collection(collector)
    assert collection.status == CollectionStatus.FINALIZED
    assert {s.status for s in collection.samples} == {SampleStatus.FINALIZED}
    assert all(s.finalized_at == collection.finalized_at for s in collection.samples)
    assert len(_events(type="finalized")) == 9


def test_a_finalized_collection_is_not_edited_but_amended(collector, finalized_collection):
    collection = finalized_collection(collector)
    with pytest.raises(InvalidTransition, match="Amend it with a reason"):
        collections.record_collected(collector, collection, collection.samples[0].barcode, utcnow())


def test_cancel_needs_a_reason_and_cancels_every_tube(collector, start_collection):
    collection = start_collection(collector)
    with pytest.raises(ValidationFailed) as error:
        collections.cancel_collection(collector, collection, "  ")
    assert "reason" in error.value.errors
    with unit_of_work():
        collections.cancel_collection(collector, collection, "participant felt faint")
    assert collection.status == CollectionStatus.CANCELLED
    assert {s.status for s in collection.samples} == {SampleStatus.CANCELLED}
    with pytest.raises(InvalidTransition, match="cancelled already"):
        collections.cancel_collection(collector, collection, "again")


def test_restore_brings_back_the_status_each_tube_had(collector, finalized_collection):
    collection = finalized_collection(collector)
    with unit_of_work():
        collections.cancel_collection(collector, collection, "wrong participant scanned")
    with unit_of_work():
        collections.restore_collection(collector, collection, "right participant after all")
    assert collection.status == CollectionStatus.FINALIZED
    assert {s.status for s in collection.samples} == {SampleStatus.FINALIZED}
    assert collection.cancel_reason == "wrong participant scanned"
    assert collection.restore_reason == "right participant after all"


def test_only_a_cancelled_collection_is_restored(collector, start_collection):
    collection = start_collection(collector)
    with pytest.raises(InvalidTransition, match="only a cancelled collection"):
        collections.restore_collection(collector, collection, "why not")


def test_amend_keeps_the_replaced_values(collector, finalized_collection):
    collection = finalized_collection(collector)
    edta = _sample(collection, "1ED04")
    old = edta.collected_at
    new = old - timedelta(minutes=10)
    with unit_of_work():
        collections.amend_collection(
            collector,
            collection,
            "clock on the draw chair was wrong",
            notes="redrawn after first attempt",
            corrections=[TubeCorrection(edta.barcode, collected_at=new)],
        )
    assert edta.collected_at == new
    [amendment] = collection.amendments
    assert amendment.reason == "clock on the draw chair was wrong"
    assert amendment.changes[edta.barcode]["collected_at"]["from"] == old.isoformat()
    assert amendment.changes["notes"] == {"from": None, "to": "redrawn after first attempt"}
    assert collection.status == CollectionStatus.FINALIZED


def test_amend_with_no_change_is_refused(collector, finalized_collection):
    collection = finalized_collection(collector)
    with pytest.raises(ValidationFailed, match="Nothing to amend"):
        collections.amend_collection(collector, collection, "just because")


def test_another_sites_collection_is_not_found(collector, other_collector, start_collection):
    collection = start_collection(collector)
    with pytest.raises(NotFound):
        collections.get_collection(other_collector, collection.id)


def test_tube_not_in_the_collection_is_not_found(collector, start_collection):
    first = start_collection(collector)
    second = start_collection(collector, "P987654321")
    with pytest.raises(NotFound, match="not part of collection"):
        collections.record_collected(collector, first, second.samples[0].barcode, utcnow())


def test_every_step_is_in_the_chain(collector, finalized_collection):
    finalized_collection(collector)
    assert verify_chain().intact
    kinds = {e.type for e in _events()}
    assert {str(EventType.CREATED), "collected", "processed", "finalized"} <= kinds


# --- every tube at once ---------------------------------------------------------------------


def test_one_draw_and_one_spin_time_for_every_tube_at_once(collector, start_collection):
    from biobank.models import Centrifuge, SampleStatus

    collection = start_collection(collector)
    drawn = utcnow() - timedelta(hours=2)
    spun = drawn + timedelta(minutes=40)
    with unit_of_work():
        recorded = collections.record_all_times(
            collector,
            collection,
            collected_at=drawn,
            processed_at=spun,
            centrifuge=Centrifuge.SWINGING_BUCKET,
        )
    assert len(recorded) == len(collection.samples) == 8
    for sample in collection.samples:
        assert sample.collected_at == drawn
        if sample.tube_type.requires_processing:
            assert (sample.processed_at, sample.status) == (spun, SampleStatus.PROCESSED)
        else:
            assert (sample.processed_at, sample.status) == (None, SampleStatus.COLLECTED)


def test_tubes_left_out_keep_their_own_times(collector, start_collection):
    collection = start_collection(collector)
    first, *others = collection.samples
    own = utcnow() - timedelta(hours=3)
    with unit_of_work():
        collections.record_collected(collector, collection, first.barcode, own)
    everyone = utcnow() - timedelta(hours=1)
    with unit_of_work():
        collections.record_all_times(
            collector, collection, collected_at=everyone, barcodes=[s.barcode for s in others]
        )
    assert first.collected_at == own
    assert {s.collected_at for s in others} == {everyone}


def test_one_tube_refusing_records_none_and_names_the_tube(collector, start_collection):
    from biobank.models import Event

    collection = start_collection(collector)
    sst = next(s for s in collection.samples if s.tube_type.code == "1SST8")
    late = utcnow() - timedelta(minutes=30)
    with unit_of_work():
        collections.record_collected(collector, collection, sst.barcode, late)
    events = db.session.scalar(sa.select(sa.func.count(Event.id)))
    # Spun an hour ago: before the SST was drawn (30 minutes ago).
    with pytest.raises(ValidationFailed) as refused, unit_of_work():
        collections.record_all_times(
            collector,
            collection,
            processed_at=utcnow() - timedelta(hours=1),
            barcodes=[sst.barcode],
        )
    assert sst.display_barcode in refused.value.errors["processed_at"][0]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == events
    assert all(s.processed_at is None for s in collection.samples)
    with pytest.raises(ValidationFailed, match="Tick at least one tube"):
        collections.record_all_times(collector, collection, collected_at=late, barcodes=[])
    with pytest.raises(ValidationFailed, match="the time they were spun, or both"):
        collections.record_all_times(collector, collection)
    urine = next(s for s in collection.samples if s.tube_type.code == "1UR10")
    with pytest.raises(ValidationFailed, match="None of the ticked tubes is centrifuged"):
        collections.record_all_times(
            collector, collection, processed_at=late, barcodes=[urine.barcode]
        )
