from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, utcnow
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
    RECEIPT_SCAN_UNDONE = "receipt_scan_undone"
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
    # Distribution to approved research: held for a request, let go again, sent to a study.
    RESERVED = "reserved"
    RELEASED = "released"
    DISTRIBUTED = "distributed"


class Event(Base):
    """One entry of the append-only chain of custody, and one leaf of its Merkle tree.

    A write inserts its event with ``leaf_hash`` (RFC 9162 hash of the event's canonical bytes,
    ``services.core.custody.leaf_bytes``) in the state change's own transaction, taking no lock that
    other writers share. The sequencer later gives committed events their ``log_index``, their
    place in the tree (DESIGN §7a); nothing else about an event ever changes, and the database
    refuses any other UPDATE, any DELETE and TRUNCATE. The event type is a plain string checked
    in Python: new kinds of event must not need a table rebuild.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    type: Mapped[str] = mapped_column(sa.String(32), index=True)
    # When it happened (may be a time the user gave) and when the system recorded it.
    at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"))
    sample_id: Mapped[int | None] = mapped_column(sa.ForeignKey("samples.id"), index=True)
    collection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("collections.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shipments.id"), index=True)
    container_id: Mapped[int | None] = mapped_column(sa.ForeignKey("containers.id"), index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    log_index: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)

    actor: Mapped[User | None] = relationship(lazy="joined")
    site: Mapped[Site | None] = relationship(lazy="joined")

    __table_args__ = (
        # Intake per freezer: the "stored" events of a time window.
        sa.Index("ix_events_type_at", "type", "at"),
        # What the sequencer has still to do, in the order it does it.
        sa.Index(
            "ix_events_unsequenced",
            "id",
            postgresql_where=sa.text("log_index IS NULL"),
            sqlite_where=sa.text("log_index IS NULL"),
        ),
    )

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.type}>"


class CustodyTreeNode(Base):
    """A complete subtree of the custody log's Merkle tree, kept at every ``STRIDE``-th level
    (the leaves themselves are ``events.leaf_hash``); every other hash of a root or a proof is
    computed from these. Written by the sequencer only, append-only like events."""

    __tablename__ = "custody_tree_nodes"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class CustodyTreeHead(Base):
    """The tree after each batch the sequencer added: its size, root hash and time. Signed
    on demand as a checkpoint; the newest is the log as published."""

    __tablename__ = "custody_tree_heads"

    tree_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    sequenced_at: Mapped[datetime] = mapped_column(default=utcnow)
