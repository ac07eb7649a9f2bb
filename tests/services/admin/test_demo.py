"""The demo data reads as a real program's last days would: in order, and tidy."""

from __future__ import annotations

import sqlalchemy as sa

from biobank.db import clock_at, utcnow
from biobank.extensions import db
from biobank.models import (
    Container,
    DistributionRequest,
    Event,
    RequestStatus,
    Sample,
    StoragePosition,
    TubeType,
    User,
)
from biobank.services.admin.demo import seed_demo
from biobank.services.distribution import requests
from biobank.unit_of_work import unit_of_work


def test_every_tubes_custody_list_is_in_the_order_things_happened(app):
    with unit_of_work():
        seed_demo()
    now = utcnow()
    events = db.session.execute(
        sa.select(Event.sample_id, Event.type, Event.at, Event.recorded_at)
        .where(Event.sample_id.is_not(None))
        .order_by(Event.sample_id, Event.id)
    ).all()
    assert events
    by_tube: dict[int, list] = {}
    for sample_id, kind, at, recorded_at in events:
        by_tube.setdefault(sample_id, []).append((at, kind))
        assert at <= recorded_at <= now, (sample_id, kind)
    for sample_id, history in by_tube.items():
        times = [at for at, _ in history]
        assert times == sorted(times), (sample_id, history)  # oldest first, as the page says


def test_each_demo_box_holds_only_what_it_is_for(app):
    with unit_of_work():
        seed_demo()
    stored = db.session.execute(
        sa.select(Container.name, Container.allowed_specimens, TubeType.specimen, TubeType.code)
        .join(StoragePosition, StoragePosition.box_id == Container.id)
        .join(Sample, Sample.id == StoragePosition.sample_id)
        .join(TubeType, TubeType.id == Sample.tube_type_id)
        .order_by(Container.name, Sample.id)
    ).all()
    assert len(stored) == 10
    for box, allowed, specimen, code in stored:
        # A box for some specimens holds only those; a mixed box keeps a collection together.
        assert allowed is None or str(specimen) in allowed.split(), (box, code)
        assert (allowed is None) == (box == "Mixed 001")
    restricted = db.session.execute(
        sa.select(Container.name, Container.allowed_specimens).where(
            Container.name.in_(["Whole blood 001", "Serum and plasma 001", "Urine 001"])
        )
    ).all()
    assert dict(restricted) == {
        "Whole blood 001": "whole_blood",
        "Serum and plasma 001": "plasma serum",
        "Urine 001": "urine",
    }


def test_the_clock_can_be_set_for_a_block_only(app):
    moment = utcnow().replace(year=2020)
    with clock_at(moment):
        assert utcnow() == moment
    assert utcnow().year > 2020


def test_the_demo_has_a_study_whose_first_request_waits_with_tubes_to_propose(app):
    with unit_of_work():
        seed_demo()
    request = db.session.scalars(sa.select(DistributionRequest)).one()
    assert request.status == RequestStatus.DRAFT
    assert request.protocol.approval_number == "IRB-2026-0147"
    coordinator = db.session.scalars(sa.select(User).where(User.username == "coordinator")).one()
    proposal = requests.propose(coordinator, request)
    assert proposal.tubes, "the demo's stored serum tubes are offered to the study"
