from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from biobank.db import clock_at
from biobank.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from biobank.models import ProtocolStatus, Role, SiteKind, Specimen
from biobank.services.distribution import protocols
from biobank.unit_of_work import unit_of_work
from tests.services.distribution.conftest import protocol_fields, today


def test_a_coordinator_records_a_protocol_for_their_biobank(coordinator, biobank_site):
    with unit_of_work():
        made = protocols.create_protocol(
            coordinator, **protocol_fields(specimens=["Serum", "whole blood", "serum"])
        )
    assert made.site_id == biobank_site.id
    assert made.status == ProtocolStatus.OPEN
    assert made.specimens == [Specimen.SERUM, Specimen.WHOLE_BLOOD]
    assert made.approval_number == "IRB-2026-0142"
    assert made.created_at.tzinfo is not None
    protocols.ensure_accepting_requests(made)  # open and unexpired: no refusal


def test_every_missing_field_is_named(coordinator):
    blank = dict.fromkeys(protocols.TEXT_FIELDS, "  ")
    with pytest.raises(ValidationFailed) as refused:
        protocols.create_protocol(
            coordinator, **protocol_fields(**blank, specimens=[], approval_expires_on="soon")
        )
    errors = refused.value.errors
    assert set(errors) == {*protocols.TEXT_FIELDS, "specimens", "approval_expires_on"}
    assert errors["approval_number"] == ["Give the approval (IRB) number."]
    assert "Choose at least one specimen kind" in errors["specimens"][0]
    assert errors["approval_expires_on"] == [
        "Give the day the approval expires as a date, e.g. 2027-03-31."
    ]


def test_an_unknown_specimen_kind_is_refused_with_the_known_ones(coordinator):
    with pytest.raises(ValidationFailed, match=r"Unknown specimen kind 'blood'.*serum"):
        protocols.create_protocol(coordinator, **protocol_fields(specimens=["blood"]))


def test_an_approval_that_has_expired_is_refused(coordinator):
    expired = today() - timedelta(days=1)
    with pytest.raises(ValidationFailed) as refused:
        protocols.create_protocol(coordinator, **protocol_fields(approval_expires_on=expired))
    assert refused.value.errors["approval_expires_on"] == [
        f"The approval expired on {expired.isoformat()}: record the renewed approval's number "
        "and expiry date."
    ]


def test_a_participant_detail_in_the_title_is_refused(coordinator):
    with pytest.raises(ValidationFailed) as refused:
        protocols.create_protocol(
            coordinator, **protocol_fields(title="Samples of jane@example.com")
        )
    assert set(refused.value.errors) == {"title"}


def test_only_coordinators_record_protocols_and_only_for_a_biobank(technician, coordinator, clinic):
    with pytest.raises(Forbidden):
        protocols.create_protocol(technician, **protocol_fields())
    with pytest.raises(ValidationFailed, match="UCSD-01 is a collection site"):
        protocols.create_protocol(coordinator, **protocol_fields(site="UCSD-01"))


def test_another_sites_protocol_is_not_found(protocol, make_site, make_user, technician, collector):
    other_bank = make_site("OTHER-BB", SiteKind.BIOBANK)
    stranger = make_user("tech.other", Role.TECHNICIAN, other_bank)
    assert protocols.get_protocol(technician, protocol.id) is protocol
    for outsider in (stranger, collector):
        with pytest.raises(NotFound):
            protocols.get_protocol(outsider, protocol.id)
        assert protocols.list_protocols(outsider) == []
    assert protocols.list_protocols(technician) == [protocol]
    with pytest.raises(NotFound):
        protocols.get_protocol(technician, 2**40)


def test_a_closed_protocol_takes_no_new_request(coordinator, protocol):
    with pytest.raises(ValidationFailed, match="Give a reason"):
        protocols.close_protocol(coordinator, protocol, " ")
    with unit_of_work():
        protocols.close_protocol(coordinator, protocol, "study ended")
    assert protocol.status == ProtocolStatus.CLOSED
    assert protocol.closed_by_id == coordinator.id
    with pytest.raises(Conflict) as refused:
        protocols.ensure_accepting_requests(protocol)
    assert refused.value.detail == (
        "Protocol IRB-2026-0142 (Serum proteomics of early-onset diabetes) was closed on "
        f"{protocol.closed_at.date().isoformat()} (study ended): it takes no new requests. "
        "Record the request under an open protocol."
    )
    with pytest.raises(InvalidTransition, match="is closed: it cannot be closed"):
        protocols.close_protocol(coordinator, protocol, "again")


def test_an_expired_protocol_takes_no_new_request(coordinator, make_protocol):
    last_year = datetime.now(UTC) - timedelta(days=400)
    with clock_at(last_year):
        old = make_protocol(approval_expires_on=(last_year + timedelta(days=30)).date())
    expiry = old.approval_expires_on.isoformat()
    with pytest.raises(Conflict, match=f"its approval expired on {expiry}, so it takes no new"):
        protocols.ensure_accepting_requests(old)
