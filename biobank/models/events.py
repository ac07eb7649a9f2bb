from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base
from biobank.models.sites import Site
from biobank.models.users import User


class EventType(StrEnum):
    """What can happen to a sample, a collection, a shipment or a storage container."""

    CREATED = "created"
    LABELLED = "labelled"
    LABEL_REPRINTED = "label_reprinted"
    CLAIMED = "claimed"
    COLLECTED = "collected"
    PROCESSED = "processed"
    FINALIZED = "finalized"
    AMENDED = "amended"
    CANCELLED = "cancelled"
    RESTORED = "restored"
    PACKED = "packed"
    UNPACKED = "unpacked"
    DISPATCHED = "dispatched"
    RECEIPT_OPENED = "receipt_opened"
    RECEIVED = "received"
    MISSING = "missing"
    RECEIPT_CLOSED = "receipt_closed"
    FLAGGED = "flagged"
    STORED = "stored"
    MOVED = "moved"
    CHECKED_OUT = "checked_out"
    CHECKED_IN = "checked_in"
    THAWED = "thawed"
    ALIQUOTED = "aliquoted"
    WITHDRAWN = "withdrawn"
    DISPOSAL_REQUESTED = "disposal_requested"
    DISPOSED = "disposed"
    CONSUMED = "consumed"
    CONTAINER_CHANGED = "container_changed"


class Event(Base):
    """One entry of the append-only, hash-chained chain of custody.

    ``hash`` is SHA-256 over this event's content and ``prev_hash`` (the previous event's hash),
    so altering, removing or reordering any event breaks every hash after it. The event type is
    a plain string checked in Python: new kinds of event must not need a table rebuild.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    type: Mapped[str] = mapped_column(sa.String(32), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"))
    sample_id: Mapped[int | None] = mapped_column(sa.ForeignKey("samples.id"), index=True)
    collection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("collections.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shipments.id"), index=True)
    container_id: Mapped[int | None] = mapped_column(sa.ForeignKey("containers.id"), index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    actor: Mapped[User | None] = relationship(lazy="joined")
    site: Mapped[Site | None] = relationship(lazy="joined")

    # Intake per freezer: the "stored" events of a time window.
    __table_args__ = (sa.Index("ix_events_type_at", "type", "at"),)

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.type}>"
