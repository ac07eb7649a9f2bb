from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column


class Specimen(StrEnum):
    WHOLE_BLOOD = "whole_blood"
    SERUM = "serum"
    PLASMA = "plasma"
    URINE = "urine"
    SALIVA = "saliva"
    BUFFY_COAT = "buffy_coat"
    DNA = "dna"
    RNA = "rna"


class TemperatureClass(StrEnum):
    AMBIENT = "ambient"
    REFRIGERATED = "refrigerated"
    FROZEN = "frozen"


class TubeType(TimestampMixin, Base):
    """One tube / test code of the collection protocol (e.g. ``1SST8``)."""

    __tablename__ = "tube_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    description: Mapped[str] = mapped_column(sa.String(200))
    specimen: Mapped[Specimen] = enum_column(Specimen, "specimen")
    volume_ml: Mapped[Decimal] = mapped_column(sa.Numeric(8, 2))
    additive: Mapped[str] = mapped_column(sa.String(100))
    cap_color: Mapped[str] = mapped_column(sa.String(40))
    requires_processing: Mapped[bool] = mapped_column(default=False)
    labels_per_tube: Mapped[int] = mapped_column(default=1)
    ship_temperature: Mapped[TemperatureClass] = enum_column(TemperatureClass, "ship_temperature")
    storage_temperature: Mapped[str] = mapped_column(sa.String(16))
    protocol_version: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        sa.CheckConstraint("labels_per_tube BETWEEN 1 AND 4", name="labels_per_tube_range"),
        sa.CheckConstraint("volume_ml > 0", name="volume_positive"),
    )

    def __repr__(self) -> str:
        return f"<TubeType {self.code}>"


class KitTemplate(TimestampMixin, Base):
    """A named, versioned set of tube types collected together (e.g. the baseline adult kit)."""

    __tablename__ = "kit_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)

    items: Mapped[list[KitTemplateItem]] = relationship(
        order_by="KitTemplateItem.position", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (sa.UniqueConstraint("code", "version"),)

    @property
    def tube_types(self) -> list[TubeType]:
        return [item.tube_type for item in self.items]


class KitTemplateItem(Base):
    __tablename__ = "kit_template_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    kit_id: Mapped[int] = mapped_column(sa.ForeignKey("kit_templates.id"))
    tube_type_id: Mapped[int] = mapped_column(sa.ForeignKey("tube_types.id"))
    position: Mapped[int]

    tube_type: Mapped[TubeType] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("kit_id", "tube_type_id"),)
