from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column, utcnow
from biobank.models.catalogue import TubeType
from biobank.models.sites import Site
from biobank.models.users import User

if TYPE_CHECKING:
    from biobank.models.collections import Collection
    from biobank.models.storage import StoragePosition


class SampleStatus(StrEnum):
    PENDING = "pending"
    COLLECTED = "collected"
    PROCESSED = "processed"
    FINALIZED = "finalized"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    STORED = "stored"
    CHECKED_OUT = "checked_out"
    # Sent to an approved study (services.distribution): it left the biobank for good.
    DISTRIBUTED = "distributed"
    WITHDRAWN = "withdrawn"
    CONSUMED = "consumed"
    DISPOSED = "disposed"
    MISSING = "missing"
    CANCELLED = "cancelled"


class Centrifuge(StrEnum):
    SWINGING_BUCKET = "swinging_bucket"
    FIXED_ANGLE = "fixed_angle"


class FlagKind(StrEnum):
    EARLY_PROCESSING = "early_processing"
    LATE_PROCESSING = "late_processing"
    HAEMOLYSED = "haemolysed"
    CLOTTED = "clotted"
    UNDER_FILLED = "under_filled"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    UNEXPECTED = "unexpected"
    LATE = "late"
    RECEIVED_AFTER_CANCEL = "received_after_cancel"
    DAMAGED = "damaged"
    DISPOSAL_REQUIRED = "disposal_required"
    # Set aside with a reason: not stored, checked out or aliquoted until released.
    QUARANTINED = "quarantined"


class Sample(TimestampMixin, Base):
    """One physical tube or aliquot, known by its anonymous barcode."""

    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    barcode: Mapped[str] = mapped_column(sa.String(10), unique=True)
    tube_type_id: Mapped[int] = mapped_column(sa.ForeignKey("tube_types.id"), index=True)
    collection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("collections.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("samples.id"))
    label_kit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("label_kits.id"), index=True)
    # The collecting site, for life; custody_site is where the tube is, or is travelling to.
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    custody_site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    status: Mapped[SampleStatus] = enum_column(
        SampleStatus, "sample_status", default=SampleStatus.PENDING, index=True
    )
    volume_ml: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 3))
    collected_at: Mapped[datetime | None]
    collected_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    processed_at: Mapped[datetime | None]
    processed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    centrifuge: Mapped[Centrifuge | None] = enum_column(Centrifuge, "centrifuge", nullable=True)
    finalized_at: Mapped[datetime | None] = mapped_column(index=True)
    received_at: Mapped[datetime | None]
    stored_at: Mapped[datetime | None]
    checked_out_at: Mapped[datetime | None]
    freeze_thaw_count: Mapped[int] = mapped_column(default=0)
    # Held for a study's approved request: not checked out, disposed of or aliquoted away
    # until the reservation is released (services.distribution.requests).
    reserved_for_request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("distribution_requests.id")
    )

    tube_type: Mapped[TubeType] = relationship(lazy="joined")
    site: Mapped[Site] = relationship(foreign_keys=[site_id], lazy="joined")
    custody_site: Mapped[Site] = relationship(foreign_keys=[custody_site_id])
    collection: Mapped[Collection | None] = relationship(foreign_keys=[collection_id])
    parent: Mapped[Sample | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Sample]] = relationship(back_populates="parent", order_by="Sample.id")
    flags: Mapped[list[SampleFlag]] = relationship(
        order_by="SampleFlag.id",
        lazy="selectin",
        back_populates="sample",
        cascade="all, delete-orphan",
    )
    position: Mapped[StoragePosition | None] = relationship(back_populates="sample")
    collected_by: Mapped[User | None] = relationship(foreign_keys=[collected_by_id])
    processed_by: Mapped[User | None] = relationship(foreign_keys=[processed_by_id])

    __table_args__ = (
        sa.CheckConstraint("freeze_thaw_count >= 0", name="freeze_thaw_count_non_negative"),
        sa.CheckConstraint("volume_ml IS NULL OR volume_ml >= 0", name="volume_non_negative"),
        sa.CheckConstraint(
            "processed_at IS NULL OR collected_at IS NULL OR processed_at > collected_at",
            name="processed_after_collected",
        ),
        # Work queues: a site's tubes in one state, in the order the page lists them. Most
        # tubes are stored, so the few in any other state must be found without a scan.
        sa.Index("ix_samples_site_status_collection", "site_id", "status", "collection_id"),
        sa.Index("ix_samples_custody_status_received", "custody_site_id", "status", "received_at"),
        # Aliquots only: a planner without statistics (SQLite) took a full index of
        # ``parent_id IS NULL`` (nearly every tube) for a collection's own tubes.
        sa.Index(
            "ix_samples_parent_id",
            "parent_id",
            sqlite_where=sa.text("parent_id IS NOT NULL"),
            postgresql_where=sa.text("parent_id IS NOT NULL"),
        ),
        # A request's tubes (few are reserved at any time).
        sa.Index(
            "ix_samples_reserved_for_request_id",
            "reserved_for_request_id",
            sqlite_where=sa.text("reserved_for_request_id IS NOT NULL"),
            postgresql_where=sa.text("reserved_for_request_id IS NOT NULL"),
        ),
        # What a distribution request may be offered: free stored tubes of a tube type,
        # collected in a window (services.distribution.requests.propose), with what the
        # proposal filters and groups them by, so its candidates cost no table row each.
        sa.Index(
            "ix_samples_distributable",
            "tube_type_id",
            "collected_at",
            "custody_site_id",
            "freeze_thaw_count",
            "volume_ml",
            "collection_id",
            sqlite_where=sa.text("status = 'stored' AND reserved_for_request_id IS NULL"),
            postgresql_where=sa.text("status = 'stored' AND reserved_for_request_id IS NULL"),
        ),
        # The dashboards' and reports' time windows.
        sa.Index("ix_samples_collected_at", "collected_at"),
        sa.Index("ix_samples_processed_at", "processed_at"),
        sa.Index("ix_samples_received_at", "received_at"),
        sa.Index("ix_samples_stored_at", "stored_at"),
    )

    @property
    def display_barcode(self) -> str:
        return f"{self.barcode[:5]}-{self.barcode[5:]}"

    @property
    def flag_kinds(self) -> list[str]:
        return [str(flag.kind) for flag in self.flags]

    def __repr__(self) -> str:
        return f"<Sample {self.barcode} {self.status}>"


class SampleFlag(Base):
    """A quality or custody flag on a sample; at most one of each kind."""

    __tablename__ = "sample_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("samples.id"), index=True)
    kind: Mapped[FlagKind] = enum_column(FlagKind, "flag_kind", index=True)
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    sample: Mapped[Sample] = relationship(back_populates="flags")

    __table_args__ = (sa.UniqueConstraint("sample_id", "kind"),)
