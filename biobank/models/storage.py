from __future__ import annotations

import string
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column, utcnow
from biobank.models.samples import Sample
from biobank.models.sites import Site

ROW_LETTERS = string.ascii_uppercase


class ContainerKind(StrEnum):
    FREEZER = "freezer"
    SHELF = "shelf"
    RACK = "rack"
    BOX = "box"


class Container(TimestampMixin, Base):
    """A node of a site's storage tree: freezer → shelf / rack → box."""

    __tablename__ = "containers"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("containers.id"), index=True)
    # The freezer this container is in (None for a freezer). Containers never move, so it is
    # set once, when the container is made; figures per freezer read it instead of walking
    # the tree down from each freezer (migration 2f6c1d8e5a47).
    freezer_id: Mapped[int | None] = mapped_column(index=True)
    kind: Mapped[ContainerKind] = enum_column(ContainerKind, "container_kind")
    name: Mapped[str] = mapped_column(sa.String(100))
    barcode: Mapped[str | None] = mapped_column(sa.String(16), unique=True)
    temperature_c: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 1))
    rows: Mapped[int | None]
    cols: Mapped[int | None]
    # Space-separated Specimen values; NULL means any specimen may go in.
    allowed_specimens: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)

    site: Mapped[Site] = relationship(lazy="joined")
    parent: Mapped[Container | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Container]] = relationship(
        back_populates="parent", order_by="Container.id"
    )
    positions: Mapped[list[StoragePosition]] = relationship(
        back_populates="box", order_by="(StoragePosition.row, StoragePosition.col)"
    )

    __table_args__ = (
        sa.UniqueConstraint("site_id", "parent_id", "name"),
        sa.CheckConstraint(
            "(kind = 'box') = (rows IS NOT NULL AND cols IS NOT NULL)", name="box_has_grid"
        ),
        sa.CheckConstraint(
            "rows IS NULL OR (rows BETWEEN 1 AND 26 AND cols BETWEEN 1 AND 99)", name="grid_size"
        ),
        sa.CheckConstraint("(kind = 'freezer') = (parent_id IS NULL)", name="freezers_are_roots"),
    )

    @property
    def capacity(self) -> int:
        rows, cols = self.grid
        return rows * cols

    @property
    def grid(self) -> tuple[int, int]:
        """A box's rows and columns; a freezer, shelf or rack holds no positions: (0, 0)."""
        return self.rows or 0, self.cols or 0

    def __repr__(self) -> str:
        return f"<Container {self.kind} {self.name}>"


def position_label(row: int, col: int) -> str:
    """``(1, 1)`` → ``A1``: row letter, column number, no zero padding."""
    return f"{ROW_LETTERS[row - 1]}{col}"


class StoragePosition(Base):
    """An occupied (or reserved) position in a box. Free positions have no row.

    The unique constraints are the last line of defence for "one tube per position, one
    position per tube" when two technicians race.
    """

    __tablename__ = "storage_positions"

    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int] = mapped_column(sa.ForeignKey("containers.id"))
    row: Mapped[int]
    col: Mapped[int]
    sample_id: Mapped[int | None] = mapped_column(sa.ForeignKey("samples.id"), unique=True)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    box: Mapped[Container] = relationship(back_populates="positions")
    sample: Mapped[Sample | None] = relationship(back_populates="position")

    __table_args__ = (
        sa.UniqueConstraint("box_id", "row", "col"),
        sa.CheckConstraint("row >= 1 AND col >= 1", name="position_in_grid"),
    )

    @property
    def label(self) -> str:
        return position_label(self.row, self.col)


class BoxFill(Base):
    """How many positions of a box are in use, kept by the database itself: triggers on
    ``storage_positions`` add one for every position row inserted and take one away for every
    row deleted or moved out (migration 7b1e4f0c2a93), whichever code or bulk load wrote it.

    Freezer and dashboard figures sum these instead of counting every position, so they cost
    the number of boxes, not the number of tubes. A row of its own, not a column of the box:
    storing takes a shared lock on the box so technicians fill one box at once, and a count on
    the box's own row would turn two of those shared locks into a deadlock.

    Read it with column selects (``box_fills``), never through a loaded object: the triggers
    change it behind the session's back.
    """

    __tablename__ = "box_fills"

    box_id: Mapped[int] = mapped_column(
        sa.ForeignKey("containers.id", ondelete="CASCADE"), primary_key=True
    )
    used: Mapped[int] = mapped_column(server_default="0")
