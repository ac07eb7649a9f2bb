from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column, utcnow
from biobank.models.catalogue import KitTemplate
from biobank.models.sites import Site
from biobank.models.users import User

if TYPE_CHECKING:
    from biobank.models.samples import Sample


class CollectionStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    CANCELLED = "cancelled"


class Collection(TimestampMixin, Base):
    """A biobank order: the tubes drawn from one participant at one visit.

    Restoring a cancelled collection returns it to the status it had (``draft`` or
    ``finalized``); who cancelled, restored and amended it and why stay on the record, and every
    amendment keeps the values it replaced in ``CollectionAmendment``.
    """

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    kit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kit_templates.id"))
    status: Mapped[CollectionStatus] = enum_column(
        CollectionStatus, "collection_status", default=CollectionStatus.DRAFT, index=True
    )
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    finalized_at: Mapped[datetime | None] = mapped_column(index=True)
    finalized_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    restored_at: Mapped[datetime | None]
    restored_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    restore_reason: Mapped[str | None] = mapped_column(sa.Text)
    amended_at: Mapped[datetime | None]
    amended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    amend_reason: Mapped[str | None] = mapped_column(sa.Text)
    label_kit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("label_kits.id"), unique=True)

    site: Mapped[Site] = relationship(lazy="joined")
    kit: Mapped[KitTemplate | None] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    finalized_by: Mapped[User | None] = relationship(foreign_keys=[finalized_by_id])
    samples: Mapped[list[Sample]] = relationship(
        back_populates="collection",
        order_by="Sample.id",
        primaryjoin="and_(Sample.collection_id == Collection.id, Sample.parent_id.is_(None))",
        viewonly=True,
    )
    amendments: Mapped[list[CollectionAmendment]] = relationship(
        order_by="CollectionAmendment.id", back_populates="collection"
    )

    # A clinic's collections of the day, newest first.
    __table_args__ = (
        sa.Index("ix_collections_site_id_created_at", "site_id", "created_at"),
        # A site's unfinished collections, newest first, without reading its finished ones.
        sa.Index("ix_collections_site_status_created", "site_id", "status", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Collection {self.id} {self.status}>"


class CollectionAmendment(Base):
    """One amendment of a finalized collection: why, by whom, and the values it replaced."""

    __tablename__ = "collection_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collections.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    collection: Mapped[Collection] = relationship(back_populates="amendments")
    actor: Mapped[User] = relationship()


class LabelBatch(TimestampMixin, Base):
    """A print run of pre-labelled kits: ``count`` kits of ``kit`` for ``site``."""

    __tablename__ = "label_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    kit_id: Mapped[int] = mapped_column(sa.ForeignKey("kit_templates.id"))
    count: Mapped[int]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))

    site: Mapped[Site] = relationship(lazy="joined")
    kit: Mapped[KitTemplate] = relationship(lazy="joined")
    kits: Mapped[list[LabelKit]] = relationship(order_by="LabelKit.sequence")
    samples: Mapped[list[Sample]] = relationship(
        secondary="label_kits",
        primaryjoin="LabelBatch.id == LabelKit.batch_id",
        secondaryjoin="Sample.label_kit_id == LabelKit.id",
        order_by="Sample.id",
        viewonly=True,
    )

    __table_args__ = (sa.CheckConstraint("count >= 1", name="count_positive"),)


class LabelKit(Base):
    """One pre-labelled kit of a batch; a collection claims it by scanning one of its labels."""

    __tablename__ = "label_kits"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("label_batches.id"), index=True)
    sequence: Mapped[int]

    batch: Mapped[LabelBatch] = relationship(back_populates="kits")

    __table_args__ = (sa.UniqueConstraint("batch_id", "sequence"),)
