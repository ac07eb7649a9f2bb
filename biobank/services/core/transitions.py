"""The legal status changes of samples, shipments, collections and print jobs, and the one
place each status is set.

A service checks what its workflow needs first (and refuses with a sentence that names the
person who left the record as it is); the table then guards the assignment itself, so no
path, present or future, moves a record along an edge the design does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from biobank.errors import InvalidTransition
from biobank.models import (
    CollectionStatus,
    OutboundStatus,
    PrintJobStatus,
    ProtocolStatus,
    RequestStatus,
    SampleStatus,
    ShipmentStatus,
)

StatusT = TypeVar("StatusT", bound=StrEnum)


class _HasStatus(Protocol[StatusT]):
    status: StatusT


class StateMachine(Generic[StatusT]):
    """``table[status]``: the statuses a record in ``status`` may move to.
    ``becoming[target]``: how a refusal says the move ("dispatched", "received")."""

    def __init__(
        self,
        table: Mapping[StatusT, frozenset[StatusT]],
        becoming: Mapping[StatusT, str],
    ) -> None:
        statuses = set(type(next(iter(table))))
        targets = set().union(*table.values())
        if set(table) != statuses or not targets <= set(becoming):
            raise ValueError("A state table names every status, and how each target is reached.")
        self.table = table
        self.becoming = becoming

    def allows(self, current: StatusT, target: StatusT) -> bool:
        return target in self.table[current]

    def move(
        self,
        record: _HasStatus[StatusT],
        target: StatusT,
        *,
        name: str,
        hint: str | None = None,
        **extra: Any,
    ) -> None:
        """Set ``record.status`` to ``target`` when the table allows it; otherwise a 409:
        "<name> is <status>: it cannot be <becoming>." and the hint."""
        if not self.allows(record.status, target):
            status = str(record.status).replace("_", " ")
            detail = f"{name} is {status}: it cannot be {self.becoming[target]}."
            if hint:
                detail += " " + hint
            raise InvalidTransition(detail, **extra)
        record.status = target


S = SampleStatus

# Every legal status change of a sample (DESIGN §2).
SAMPLES = StateMachine(
    {
        S.PENDING: frozenset({S.COLLECTED, S.CANCELLED}),
        S.COLLECTED: frozenset({S.PROCESSED, S.FINALIZED, S.CANCELLED}),
        S.PROCESSED: frozenset({S.FINALIZED, S.CANCELLED}),
        # A finalized tube that turns up at the biobank unannounced is received as it is.
        S.FINALIZED: frozenset({S.IN_TRANSIT, S.CANCELLED, S.RECEIVED}),
        S.IN_TRANSIT: frozenset({S.RECEIVED, S.MISSING, S.CANCELLED, S.FINALIZED}),
        # Back to where it was (in transit, missing, finalized or cancelled) only when a
        # receiving scan made in error is undone (receiving.undo_scan).
        # Distributed straight from the bench: an aliquot made for a study at picking.
        S.RECEIVED: frozenset(
            {S.STORED, S.CONSUMED, S.WITHDRAWN, S.DISPOSED, S.DISTRIBUTED}
            | {S.IN_TRANSIT, S.MISSING, S.FINALIZED, S.CANCELLED}
        ),
        S.STORED: frozenset(
            {S.RECEIVED, S.CHECKED_OUT, S.CONSUMED, S.WITHDRAWN, S.DISPOSED, S.DISTRIBUTED}
        ),
        S.CHECKED_OUT: frozenset(
            {S.STORED, S.RECEIVED, S.CONSUMED, S.WITHDRAWN, S.DISPOSED, S.DISTRIBUTED}
        ),
        # Sent to a study; unused material it returns is received back at the biobank.
        S.DISTRIBUTED: frozenset({S.RECEIVED}),
        S.MISSING: frozenset({S.RECEIVED, S.DISPOSED}),
        # A cancelled tube can be restored with its collection, or still arrive at the biobank.
        S.CANCELLED: frozenset(
            {S.PENDING, S.COLLECTED, S.PROCESSED, S.FINALIZED, S.IN_TRANSIT, S.RECEIVED}
        ),
        S.WITHDRAWN: frozenset({S.DISPOSED}),
        S.CONSUMED: frozenset(),
        S.DISPOSED: frozenset(),
    },
    {
        S.PENDING: "made pending again",
        S.COLLECTED: "recorded as collected",
        S.PROCESSED: "recorded as processed",
        S.FINALIZED: "finalized",
        S.IN_TRANSIT: "dispatched",
        S.RECEIVED: "received",
        S.STORED: "stored",
        S.CHECKED_OUT: "checked out",
        S.DISTRIBUTED: "distributed",
        S.WITHDRAWN: "withdrawn",
        S.CONSUMED: "consumed",
        S.DISPOSED: "disposed of",
        S.MISSING: "marked missing",
        S.CANCELLED: "cancelled",
    },
)

Sh = ShipmentStatus

# A shipment is packed while open, dispatched once, and closed on receipt with or without
# discrepancies; only an open one can be cancelled. A closed receipt is final.
SHIPMENTS = StateMachine(
    {
        Sh.OPEN: frozenset({Sh.IN_TRANSIT, Sh.CANCELLED}),
        Sh.IN_TRANSIT: frozenset({Sh.RECEIVED, Sh.RECEIVED_WITH_DISCREPANCIES}),
        Sh.RECEIVED: frozenset(),
        Sh.RECEIVED_WITH_DISCREPANCIES: frozenset(),
        Sh.CANCELLED: frozenset(),
    },
    {
        Sh.IN_TRANSIT: "dispatched",
        Sh.CANCELLED: "cancelled",
        Sh.RECEIVED: "received",
        Sh.RECEIVED_WITH_DISCREPANCIES: "received",
    },
)

C = CollectionStatus

# A draft is finalized or cancelled; a finalized collection can still be cancelled (while none
# of its tubes has reached the biobank); a cancelled one is restored to what it was.
COLLECTIONS = StateMachine(
    {
        C.DRAFT: frozenset({C.FINALIZED, C.CANCELLED}),
        C.FINALIZED: frozenset({C.CANCELLED}),
        C.CANCELLED: frozenset({C.DRAFT, C.FINALIZED}),
    },
    {
        C.DRAFT: "restored",
        C.FINALIZED: "finalized",
        C.CANCELLED: "cancelled",
    },
)

# A print job is written as sending before the bytes leave, and ends once, sent or failed.
PRINT_JOBS = StateMachine(
    {
        PrintJobStatus.SENDING: frozenset({PrintJobStatus.SENT, PrintJobStatus.FAILED}),
        PrintJobStatus.SENT: frozenset(),
        PrintJobStatus.FAILED: frozenset(),
    },
    {PrintJobStatus.SENT: "recorded as sent", PrintJobStatus.FAILED: "recorded as failed"},
)

# A study's protocol takes requests while open; once closed it stays closed.
PROTOCOLS = StateMachine(
    {ProtocolStatus.OPEN: frozenset({ProtocolStatus.CLOSED}), ProtocolStatus.CLOSED: frozenset()},
    {ProtocolStatus.CLOSED: "closed"},
)

R = RequestStatus

# A request is recorded as a draft, approved (its tubes reserved), picked and shipped; it can
# be cancelled until it has shipped (its reservations released with it).
REQUESTS = StateMachine(
    {
        R.DRAFT: frozenset({R.APPROVED, R.CANCELLED}),
        R.APPROVED: frozenset({R.PICKING, R.CANCELLED}),
        R.PICKING: frozenset({R.SHIPPED, R.CANCELLED}),
        R.SHIPPED: frozenset(),
        R.CANCELLED: frozenset(),
    },
    {
        R.APPROVED: "approved",
        R.PICKING: "picked",
        R.SHIPPED: "shipped",
        R.CANCELLED: "cancelled",
    },
)

Ob = OutboundStatus

# An outbound shipment to a study is packed while open and dispatched once; unused tubes the
# study sends back make it partly returned, then returned when the last one is back. An open
# one can be cancelled instead (its tubes stay picked for the request).
OUTBOUND = StateMachine(
    {
        Ob.OPEN: frozenset({Ob.DISPATCHED, Ob.CANCELLED}),
        Ob.DISPATCHED: frozenset({Ob.PARTLY_RETURNED, Ob.RETURNED}),
        Ob.PARTLY_RETURNED: frozenset({Ob.RETURNED}),
        Ob.RETURNED: frozenset(),
        Ob.CANCELLED: frozenset(),
    },
    {
        Ob.DISPATCHED: "dispatched",
        Ob.PARTLY_RETURNED: "partly returned",
        Ob.RETURNED: "returned",
        Ob.CANCELLED: "cancelled",
    },
)
