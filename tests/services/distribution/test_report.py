"""The per-protocol report: requested, reserved, picked, shipped, returned and released, per
request and in total."""

from __future__ import annotations

import pytest

from biobank.errors import Forbidden, NotFound
from biobank.models import Role, SiteKind
from biobank.services.distribution import report, requests
from biobank.unit_of_work import unit_of_work
from tests.services.distribution.shipping_to_studies import pick_all, ship, take_back


@pytest.fixture
def worked(coordinator, technician, store_participant, make_request):
    """Three requests under the protocol: one shipped (three of four tubes picked, one of
    them back from the study), one approved and partly picked, one cancelled draft."""
    for pid in ("P100000001", "P100000002", "P100000003", "P100000004"):
        store_participant(pid)
    shipped = make_request()
    with unit_of_work():
        requests.approve(coordinator, shipped)
    pick_all(technician, shipped, 3)
    sent = ship(technician, shipped)
    take_back(technician, shipped, sent[0])
    picking = make_request(participants_wanted=1, tubes_per_participant=2)
    with unit_of_work():
        requests.approve(coordinator, picking)
    pick_all(technician, picking, 1)
    dropped = make_request(participants_wanted=3, tubes_per_participant=1, notes="=1+2")
    with unit_of_work():
        requests.cancel_request(coordinator, dropped, "study withdrew the request")
    return shipped, picking, dropped


def test_each_request_counts_its_tubes_at_every_step(coordinator, protocol, worked):
    shipped, picking, dropped = worked
    found = report.protocol_report(coordinator, protocol)
    lines = {line.request.id: line.figures for line in found.lines}
    assert lines[shipped.id] == report.Figures(
        requested=4, reserved=4, picked=3, shipped=3, returned=1, released=1
    )
    assert lines[picking.id] == report.Figures(
        requested=2, reserved=2, picked=1, shipped=0, returned=0, released=0
    )
    assert lines[dropped.id] == report.Figures(requested=3)


def test_the_total_adds_the_requests_up(coordinator, protocol, worked):
    found = report.protocol_report(coordinator, protocol)
    assert found.requests == 3
    assert found.total == report.Figures(
        requested=9, reserved=6, picked=4, shipped=3, returned=1, released=1
    )


def test_another_protocols_requests_are_not_counted(
    coordinator, technician, protocol, worked, make_protocol, make_request, store_participant
):
    other = make_protocol(approval_number="IRB-2026-0999")
    request = make_request(under=other, participants_wanted=1)
    with unit_of_work():
        requests.approve(coordinator, request)
    assert report.protocol_report(coordinator, other).total.reserved == 2
    assert report.protocol_report(coordinator, protocol).total.reserved == 6


def test_a_protocol_without_requests_has_a_zero_total(coordinator, protocol):
    found = report.protocol_report(coordinator, protocol)
    assert found.lines == [] and found.total == report.Figures()


def test_the_table_has_a_row_per_request_and_the_total(coordinator, protocol, worked):
    shipped, _, dropped = worked
    table = report.report_table(coordinator, protocol)
    assert table.columns[0] == "request" and "returned" in table.columns
    assert [row[0] for row in table.rows] == [
        shipped.id,
        worked[1].id,
        dropped.id,
        "Total (3 requests)",
    ]
    total = dict(zip(table.columns, table.rows[-1], strict=True))
    assert (total["requested"], total["shipped"], total["returned"]) == (9, 3, 1)
    assert table.headings[5] == "Tubes requested"
    assert "University of Somewhere" in table.note and "Dr Ada Researcher" in table.note
    assert protocol.approval_number in table.title


def test_clinic_staff_and_admins_may_not_read_it(collector, admin, protocol):
    for user in (collector, admin):
        with pytest.raises(Forbidden):
            report.protocol_report(user, protocol)


def test_another_biobanks_technician_gets_a_404(protocol, make_site, make_user):
    elsewhere = make_user(
        "technician.obb", Role.TECHNICIAN, make_site("OTHER-BB", SiteKind.BIOBANK)
    )
    with pytest.raises(NotFound):
        report.protocol_report(elsewhere, protocol)


def test_a_technician_of_the_biobank_reads_it(technician, protocol, worked):
    assert report.protocol_report(technician, protocol).requests == 3
