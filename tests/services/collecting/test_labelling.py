from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import zxingcpp

from biobank.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import Event, SampleStatus
from biobank.services.collecting import collections, labelling
from biobank.unit_of_work import unit_of_work
from tests.decoding import decode, pdf_text, rasterize

PARTICIPANT = "P123456789"


def _print(actor, collection, **options):
    with unit_of_work():
        return labelling.collection_labels(actor, collection, **options)


def test_every_label_decodes_to_its_tube_and_urine_prints_twice(collector, start_collection):
    collection = start_collection(collector, PARTICIPANT)
    job = _print(collector, collection)
    assert job.media_type == "application/pdf"
    pages = rasterize(job.content, 300)
    decoded = [decode(page) for page in pages]
    assert all(len(found) == 1 for found in decoded)
    assert all(fmt == zxingcpp.BarcodeFormat.Code128 for [(fmt, _)] in decoded)
    expected = []
    for sample in collection.samples:
        expected += [sample.barcode] * sample.tube_type.labels_per_tube
    assert [text for [(_, text)] in decoded] == expected
    assert job.labels == 9  # eight tubes, the urine tube twice


def test_the_participant_id_is_nowhere_on_the_labels(collector, start_collection):
    collection = start_collection(collector, PARTICIPANT)
    pdf = _print(collector, collection).content
    zpl = _print(collector, collection, fmt="zpl", reason="printer jam").content
    assert PARTICIPANT not in pdf_text(pdf)
    assert PARTICIPANT.encode() not in pdf
    assert PARTICIPANT.encode() not in zpl
    text = pdf_text(pdf)
    first = collection.samples[0]
    assert first.display_barcode in text and first.tube_type.code in text


def test_label_date_is_the_collection_date_in_the_site_zone(collector, start_collection):
    collection = start_collection(collector, PARTICIPANT)
    sample = collection.samples[0]
    # 02:30 UTC on 25 Nov is still 24 Nov in San Diego.
    with unit_of_work():
        collections.record_collected(
            collector, collection, sample.barcode, datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
        )
    assert labelling.label_spec(sample).date.isoformat() == "2026-11-23"


def test_printing_is_an_event_and_a_reprint_needs_a_reason(collector, start_collection):
    collection = start_collection(collector, PARTICIPANT)
    _print(collector, collection)
    with pytest.raises(ValidationFailed) as error:
        _print(collector, collection)
    assert "reason" in error.value.errors
    _print(collector, collection, barcodes=[collection.samples[0].barcode], reason="smudged")
    events = db.session.scalars(
        sa.select(Event).where(Event.type.in_(["labelled", "label_reprinted"])).order_by(Event.id)
    ).all()
    assert [e.type for e in events].count("labelled") == 8
    [reprint] = [e for e in events if e.type == "label_reprinted"]
    assert reprint.reason == "smudged"
    assert reprint.sample_id == collection.samples[0].id


@pytest.mark.parametrize("stock", ["cryo-sheet-letter", "cap-2d"])
def test_other_stocks_decode_too(collector, start_collection, stock):
    collection = start_collection(collector, PARTICIPANT, tube_types=["1ED04"])
    job = _print(collector, collection, stock=stock)
    found = [text for page in rasterize(job.content, 300) for (_, text) in decode(page)]
    assert found == [collection.samples[0].barcode]


def test_unknown_stock_and_bad_start_position_are_field_errors(collector, start_collection):
    collection = start_collection(collector, PARTICIPANT)
    with pytest.raises(ValidationFailed) as error:
        labelling.collection_labels(collector, collection, stock="napkin")
    assert "stock" in error.value.errors
    with pytest.raises(ValidationFailed) as error:
        labelling.collection_labels(
            collector, collection, stock="cryo-sheet-letter", start_position=500
        )
    assert "start_position" in error.value.errors


def test_another_sites_tubes_cannot_be_printed(collector, other_collector, start_collection):
    collection = start_collection(collector, PARTICIPANT)
    with pytest.raises(NotFound):
        labelling.print_labels(other_collector, collection.samples, name="x")


def test_label_batch_makes_pending_unclaimed_kits(coordinator, clinic):
    with unit_of_work():
        batch = labelling.create_label_batch(
            coordinator, site="UCSD-01", kit="BASELINE-ADULT", count=3
        )
    tubes = labelling.batch_samples(batch)
    assert len(tubes) == 24
    assert {t.status for t in tubes} == {SampleStatus.PENDING}
    assert all(t.collection_id is None for t in tubes)
    job = labelling.batch_labels(coordinator, batch)
    pages = rasterize(job.content, 300)
    assert len(pages) == 27  # three urine tubes print twice
    # pre-printed kit labels carry no date yet: it is written by hand
    assert "____-__-__" in pdf_text(job.content)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"site": "MAYO-BB", "count": 1}, "site"),
        ({"site": "UCSD-01", "count": 0}, "count"),
        ({"site": "NOPE", "count": 1}, "site"),
    ],
)
def test_label_batch_input_is_checked(coordinator, clinic, biobank_site, kwargs, field):
    with pytest.raises(ValidationFailed) as error:
        labelling.create_label_batch(coordinator, kit="BASELINE-ADULT", **kwargs)
    assert field in error.value.errors


def test_collectors_do_not_make_label_batches(collector):
    with pytest.raises(Forbidden):
        labelling.create_label_batch(collector, site="UCSD-01", kit="URINE-ONLY", count=1)


def test_a_prelabelled_kit_is_claimed_by_scanning_any_label(
    coordinator, collector, start_collection
):
    with unit_of_work():
        batch = labelling.create_label_batch(
            coordinator, site="UCSD-01", kit="BASELINE-ADULT", count=2
        )
    tubes = labelling.batch_samples(batch)
    second_kit = [t for t in tubes if t.label_kit_id == tubes[-1].label_kit_id]
    assert len(second_kit) == 8
    scanned = second_kit[3].display_barcode.lower()
    collection = start_collection(collector, PARTICIPANT, claim_barcode=scanned)
    assert sorted(s.barcode for s in collection.samples) == sorted(t.barcode for t in second_kit)
    assert collection.kit.code == "BASELINE-ADULT"
    with pytest.raises(InvalidTransition, match="belongs to collection"):
        start_collection(collector, "P987654321", claim_barcode=second_kit[0].barcode)


def test_a_kit_of_another_site_cannot_be_claimed(
    coordinator, other_collector, start_collection, clinic
):
    with unit_of_work():
        batch = labelling.create_label_batch(coordinator, site="UCSD-01", kit="URINE-ONLY", count=1)
    tube = labelling.batch_samples(batch)[0]
    with pytest.raises(ValidationFailed, match="not a label of a pre-labelled kit"):
        start_collection(other_collector, PARTICIPANT, claim_barcode=tube.barcode)
