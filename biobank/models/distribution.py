"""Distribution to approved research: the studies a biobank may supply (protocols), what each
asked for (requests), and the tubes reserved for a request (items).

A tube is reserved by ``samples.reserved_for_request_id``, set by one guarded UPDATE that takes
only free, stored tubes (``services.distribution.requests``): two approvals racing for the same
tubes each get their own. ``distribution_items`` keeps, per request, every tube it ever held and
when it was reserved, released or picked.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column
from biobank.models.catalogue import Specimen
from biobank.models.samples import Sample
from biobank.models.sites import Site
from biobank.models.users import User


class ProtocolStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RequestStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PICKING = "picking"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class DistributionProtocol(TimestampMixin, Base):
    """A study approved to receive material from a biobank (OpenSpecimen's distribution
    protocol): its approval and where the tubes go. Owned by one biobank site."""

    __tablename__ = "distribution_protocols"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    approval_number: Mapped[str] = mapped_column(sa.String(64))
    approval_expires_on: Mapped[date]
    institution: Mapped[str] = mapped_column(sa.String(200))
    institution_address: Mapped[str] = mapped_column(sa.Text)
    # A researcher's name, never a participant's.
    responsible_person: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[ProtocolStatus] = enum_column(
        ProtocolStatus, "distribution_protocol_status", default=ProtocolStatus.OPEN
    )
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    close_reason: Mapped[str | None] = mapped_column(sa.Text)

    site: Mapped[Site] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    allowed: Mapped[list[ProtocolSpecimen]] = relationship(
        order_by="ProtocolSpecimen.specimen",
        lazy="selectin",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="closed_has_a_time"
        ),
    )

    @property
    def specimens(self) -> list[Specimen]:
        return [item.specimen for item in self.allowed]

    def __repr__(self) -> str:
        return f"<DistributionProtocol {self.id} {self.approval_number}>"


class ProtocolSpecimen(Base):
    """One specimen kind a protocol may receive."""

    __tablename__ = "distribution_protocol_specimens"

    protocol_id: Mapped[int] = mapped_column(
        sa.ForeignKey("distribution_protocols.id"), primary_key=True
    )
    specimen: Mapped[Specimen] = enum_column(Specimen, "protocol_specimen", primary_key=True)


class DistributionRequest(TimestampMixin, Base):
    """What a study asked for under its protocol, as a coordinator recorded it."""

    __tablename__ = "distribution_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_protocols.id"), index=True)
    specimen: Mapped[Specimen] = enum_column(Specimen, "request_specimen")
    participants_wanted: Mapped[int]
    tubes_per_participant: Mapped[int]
    min_volume_ml: Mapped[Decimal] = mapped_column(sa.Numeric(8, 3))
    max_freeze_thaw: Mapped[int]
    # Days in the protocol site's time zone, both included.
    collected_from: Mapped[date]
    collected_to: Mapped[date]
    # Sample IDs (barcodes) the study named, or None to let the system choose.
    sample_barcodes: Mapped[list[str] | None] = mapped_column(sa.JSON)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[RequestStatus] = enum_column(
        RequestStatus, "distribution_request_status", default=RequestStatus.DRAFT, index=True
    )
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)

    protocol: Mapped[DistributionProtocol] = relationship(lazy="joined")
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])

    __table_args__ = (
        sa.CheckConstraint("participants_wanted >= 1", name="participants_wanted_positive"),
        sa.CheckConstraint("tubes_per_participant >= 1", name="tubes_per_participant_positive"),
        sa.CheckConstraint("min_volume_ml >= 0", name="min_volume_non_negative"),
        sa.CheckConstraint("max_freeze_thaw >= 0", name="max_freeze_thaw_non_negative"),
        sa.CheckConstraint("collected_from <= collected_to", name="collected_dates_in_order"),
    )

    @property
    def tubes_wanted(self) -> int:
        return self.participants_wanted * self.tubes_per_participant

    def __repr__(self) -> str:
        return f"<DistributionRequest {self.id} {self.status}>"


class DistributionItem(Base):
    """A tube a request held: reserved, then released or picked (and later shipped)."""

    __tablename__ = "distribution_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_requests.id"), index=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("samples.id"), index=True)
    reserved_at: Mapped[datetime]
    reserved_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    released_at: Mapped[datetime | None]
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    release_reason: Mapped[str | None] = mapped_column(sa.Text)
    picked_at: Mapped[datetime | None]
    picked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    request: Mapped[DistributionRequest] = relationship()
    sample: Mapped[Sample] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "released_at IS NULL OR picked_at IS NULL", name="released_or_picked_not_both"
        ),
    )


class OutboundStatus(StrEnum):
    OPEN = "open"
    DISPATCHED = "dispatched"
    # Some of its tubes came back unused; all of them.
    PARTLY_RETURNED = "partly_returned"
    RETURNED = "returned"
    # Called off before dispatch: its tubes were taken out, still picked for the request,
    # which may open another shipment.
    CANCELLED = "cancelled"


class DistributionShipment(TimestampMixin, Base):
    """The package that takes a request's picked tubes to the protocol's institution: packed
    by scanning, dispatched once (signed), and perhaps partly returned; or cancelled before
    dispatch. One per request that is not cancelled (a partial unique index). The
    institution, its address and the responsible person are copied from the protocol when the
    shipment is opened: the record says where the tubes went, whatever the protocol says
    later."""

    __tablename__ = "distribution_shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_requests.id"))
    institution: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.Text)
    responsible_person: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[OutboundStatus] = enum_column(
        OutboundStatus, "outbound_status", default=OutboundStatus.OPEN, index=True
    )
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    carrier: Mapped[str | None] = mapped_column(sa.String(32))
    tracking_number: Mapped[str | None] = mapped_column(sa.String(64))
    dispatched_at: Mapped[datetime | None]
    dispatched_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The electronic signature of the dispatch (accounts.sign), as the events carry it.
    signature: Mapped[dict | None] = mapped_column(sa.JSON)
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)

    request: Mapped[DistributionRequest] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    dispatched_by: Mapped[User | None] = relationship(foreign_keys=[dispatched_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])

    @staticmethod
    def number_of(shipment_id: int) -> str:
        """How people name an outbound shipment: ``D`` and its id."""
        return f"D{shipment_id}"

    __table_args__ = (
        sa.CheckConstraint(
            "(status IN ('open', 'cancelled')) = (dispatched_at IS NULL)",
            name="dispatched_has_a_time",
        ),
        sa.CheckConstraint(
            "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_has_a_time"
        ),
        # A request's one shipment, not counting those cancelled before dispatch.
        sa.Index(
            "ix_distribution_shipments_live_request_id",
            "request_id",
            unique=True,
            sqlite_where=sa.text("status <> 'cancelled'"),
            postgresql_where=sa.text("status <> 'cancelled'"),
        ),
    )

    def __repr__(self) -> str:
        return f"<DistributionShipment {self.id} {self.status}>"


class DistributionShipmentItem(Base):
    """A tube packed into an outbound shipment, under its study pseudonym (fixed at packing:
    the manifest says what the study was told), and its return if it came back."""

    __tablename__ = "distribution_shipment_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_shipments.id"), index=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("samples.id"), index=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(32))
    packed_at: Mapped[datetime]
    packed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    returned_at: Mapped[datetime | None]
    returned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    return_reason: Mapped[str | None] = mapped_column(sa.Text)

    shipment: Mapped[DistributionShipment] = relationship()
    sample: Mapped[Sample] = relationship()

    __table_args__ = (sa.UniqueConstraint("shipment_id", "sample_id"),)
