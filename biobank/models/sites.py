from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from biobank.db import Base, TimestampMixin, enum_column


class SiteKind(StrEnum):
    COLLECTION = "collection"
    BIOBANK = "biobank"


class Site(TimestampMixin, Base):
    """A partner clinic that collects tubes, or a biobank that receives and stores them."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[SiteKind] = enum_column(SiteKind, "site_kind")
    timezone: Mapped[str] = mapped_column(sa.String(64))
    # Printed on manifests: IATA P650 wants a responsible person's phone on the package.
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    address: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<Site {self.code}>"
