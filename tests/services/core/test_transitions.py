"""The state tables of samples, shipments and collections, and that they are the only way a
service sets a status."""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace

import pytest

from biobank.errors import InvalidTransition
from biobank.models import (
    CollectionStatus,
    OutboundStatus,
    PrintJobStatus,
    SampleStatus,
    ShipmentStatus,
)
from biobank.services.core import transitions
from biobank.services.core.transitions import (
    COLLECTIONS,
    OUTBOUND,
    PRINT_JOBS,
    SAMPLES,
    SHIPMENTS,
    StateMachine,
)

# Every service package, not only core/ where the tables live.
SERVICES = Path(transitions.__file__).parent.parent


@pytest.mark.parametrize(
    ("machine", "statuses"),
    [
        (SAMPLES, SampleStatus),
        (SHIPMENTS, ShipmentStatus),
        (COLLECTIONS, CollectionStatus),
        (PRINT_JOBS, PrintJobStatus),
        (OUTBOUND, OutboundStatus),
    ],
)
def test_every_status_has_a_row_and_every_target_a_wording(machine, statuses):
    assert set(machine.table) == set(statuses)
    for targets in machine.table.values():
        assert targets <= set(machine.becoming)


def test_a_closed_receipt_and_a_cancelled_shipment_are_final():
    for final in (
        ShipmentStatus.RECEIVED,
        ShipmentStatus.RECEIVED_WITH_DISCREPANCIES,
        ShipmentStatus.CANCELLED,
    ):
        assert SHIPMENTS.table[final] == frozenset()
    assert not SHIPMENTS.allows(ShipmentStatus.IN_TRANSIT, ShipmentStatus.CANCELLED)
    assert not SHIPMENTS.allows(ShipmentStatus.OPEN, ShipmentStatus.RECEIVED)


def test_an_outbound_shipment_is_cancelled_only_before_dispatch_and_for_good():
    assert OUTBOUND.allows(OutboundStatus.OPEN, OutboundStatus.CANCELLED)
    for sent in (
        OutboundStatus.DISPATCHED,
        OutboundStatus.PARTLY_RETURNED,
        OutboundStatus.RETURNED,
    ):
        assert not OUTBOUND.allows(sent, OutboundStatus.CANCELLED)
    assert OUTBOUND.table[OutboundStatus.CANCELLED] == frozenset()


def test_a_collection_is_restored_to_what_it_was_and_never_back_to_draft_once_finalized():
    assert COLLECTIONS.allows(CollectionStatus.CANCELLED, CollectionStatus.DRAFT)
    assert COLLECTIONS.allows(CollectionStatus.CANCELLED, CollectionStatus.FINALIZED)
    assert not COLLECTIONS.allows(CollectionStatus.FINALIZED, CollectionStatus.DRAFT)


def test_a_refused_move_says_what_the_record_is_and_leaves_it_as_it_was():
    shipment = SimpleNamespace(status=ShipmentStatus.RECEIVED)
    with pytest.raises(InvalidTransition) as refused:
        SHIPMENTS.move(
            shipment,
            ShipmentStatus.IN_TRANSIT,
            name="Shipment MN-1",
            hint="Open a new shipment.",
            shipment_status="received",
        )
    assert refused.value.detail == (
        "Shipment MN-1 is received: it cannot be dispatched. Open a new shipment."
    )
    assert refused.value.extra == {"shipment_status": "received"}
    assert shipment.status == ShipmentStatus.RECEIVED
    open_one = SimpleNamespace(status=ShipmentStatus.OPEN)
    SHIPMENTS.move(open_one, ShipmentStatus.CANCELLED, name="Shipment MN-2")
    assert open_one.status == ShipmentStatus.CANCELLED


def test_a_table_that_forgets_a_status_or_a_wording_is_refused_at_import():
    class Light(StrEnum):
        RED = "red"
        GREEN = "green"

    with pytest.raises(ValueError, match="every status"):
        StateMachine({Light.RED: frozenset({Light.GREEN})}, {Light.GREEN: "go"})
    with pytest.raises(ValueError, match="every status"):
        StateMachine({Light.RED: frozenset({Light.GREEN}), Light.GREEN: frozenset()}, {})


def _status_assignments(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            lines += [
                node.lineno
                for element in elements
                if isinstance(element, ast.Attribute) and element.attr == "status"
            ]
    return lines


def test_no_service_sets_a_status_outside_the_tables():
    read = sorted(SERVICES.rglob("*.py"))
    # Every workflow package is read, not only core/ beside the tables.
    assert {path.parent.name for path in read} >= {"core", "shipping", "storage", "distribution"}
    found = {
        str(path.relative_to(SERVICES)): lines
        for path in read
        if path.name != "transitions.py" and (lines := _status_assignments(path))
    }
    assert found == {}
