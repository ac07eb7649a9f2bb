from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column, utcnow
from biobank.models.catalogue import TemperatureClass
from biobank.models.samples import Sample
from biobank.models.sites import Site
from biobank.models.users import User


class ShipmentStatus(StrEnum):
    OPEN = "open"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    RECEIVED_WITH_DISCREPANCIES = "received_with_discrepancies"
    CANCELLED = "cancelled"


class PackageCondition(StrEnum):
    GOOD = "good"
    DAMAGED = "damaged"
    LEAKING = "leaking"
    WARM = "warm"
    DRY_ICE_GONE = "dry_ice_gone"


class ItemOutcome(StrEnum):
    RECEIVED = "received"
    MISSING = "missing"
    DAMAGED = "damaged"
    UNEXPECTED = "unexpected"
    # On this manifest, but it turned up in another shipment and was received there.
    ARRIVED_ELSEWHERE = "arrived_elsewhere"


class Shipment(TimestampMixin, Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    manifest_number: Mapped[str] = mapped_column(sa.String(16), unique=True)
    origin_site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    destination_site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    temperature: Mapped[TemperatureClass] = enum_column(TemperatureClass, "shipment_temperature")
    status: Mapped[ShipmentStatus] = enum_column(
        ShipmentStatus, "shipment_status", default=ShipmentStatus.OPEN, index=True
    )
    carrier: Mapped[str | None] = mapped_column(sa.String(64))
    tracking_number: Mapped[str | None] = mapped_column(sa.String(64))
    dry_ice_kg: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 2))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)
    dispatched_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    receipt_opened_at: Mapped[datetime | None]
    receipt_opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    received_at: Mapped[datetime | None]
    received_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    condition: Mapped[PackageCondition | None] = enum_column(
        PackageCondition, "package_condition", nullable=True
    )
    arrival_temperature_c: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 1))
    receipt_notes: Mapped[str | None] = mapped_column(sa.Text)
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)

    origin: Mapped[Site] = relationship(foreign_keys=[origin_site_id], lazy="joined")
    destination: Mapped[Site] = relationship(foreign_keys=[destination_site_id], lazy="joined")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    dispatched_by: Mapped[User | None] = relationship(foreign_keys=[dispatched_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    items: Mapped[list[ShipmentItem]] = relationship(
        order_by="ShipmentItem.id", back_populates="shipment"
    )

    __table_args__ = (
        sa.CheckConstraint("origin_site_id <> destination_site_id", name="distinct_sites"),
        sa.CheckConstraint("dry_ice_kg IS NULL OR dry_ice_kg > 0", name="dry_ice_positive"),
    )

    def __repr__(self) -> str:
        return f"<Shipment {self.manifest_number} {self.status}>"


class ShipmentItem(Base):
    """One tube in a shipment: on the manifest (``manifested``) or found in the box unannounced."""

    __tablename__ = "shipment_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(sa.ForeignKey("shipments.id"), index=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("samples.id"), index=True)
    manifested: Mapped[bool] = mapped_column(default=True)
    outcome: Mapped[ItemOutcome | None] = enum_column(ItemOutcome, "item_outcome", nullable=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    scanned_at: Mapped[datetime | None]
    scanned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    shipment: Mapped[Shipment] = relationship(back_populates="items")
    sample: Mapped[Sample] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("shipment_id", "sample_id"),)

    @property
    def barcode(self) -> str:
        return self.sample.barcode

    @property
    def tube_type_code(self) -> str:
        return self.sample.tube_type.code
