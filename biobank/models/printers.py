from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from biobank.db import Base, TimestampMixin, enum_column
from biobank.models.sites import Site
from biobank.models.users import User

# The resolutions thermal label printers are made in.
PRINTER_DPIS = (203, 300, 600)


class PrintJobKind(StrEnum):
    """What a print job prints: tube labels, chosen one of four ways."""

    COLLECTION = "collection"  # a collection's tubes (or some of them)
    LABEL_BATCH = "label_batch"  # a batch of pre-labelled kits, kit by kit
    BOX = "box"  # the tubes stored in a box, position by position
    REPRINT = "reprint"  # tubes named by barcode, with a reason


class PrintJobStatus(StrEnum):
    # Written before the bytes leave; stays so only when the server stopped (or could not
    # record the outcome) between sending and recording: the labels may have printed.
    SENDING = "sending"
    SENT = "sent"  # the printer took every byte; the labels are recorded as printed
    FAILED = "failed"  # with the reason; nothing recorded as printed


class Printer(TimestampMixin, Base):
    """A label printer at a site, reached by raw TCP (ZPL on port 9100 as a rule). Registered
    by admins; used only by the people of its site. Never deleted: jobs name it; an admin
    takes it out of use instead (``active``)."""

    __tablename__ = "printers"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    host: Mapped[str] = mapped_column(sa.String(253))
    port: Mapped[int] = mapped_column(default=9100)
    dpi: Mapped[int] = mapped_column(sa.SmallInteger)
    stock: Mapped[str] = mapped_column(sa.String(32))
    active: Mapped[bool] = mapped_column(default=True)

    site: Mapped[Site] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("site_id", "name"),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"),
        sa.CheckConstraint(
            "dpi IN (" + ", ".join(str(dpi) for dpi in PRINTER_DPIS) + ")", name="dpi_known"
        ),
    )

    def __repr__(self) -> str:
        return f"<Printer {self.name} {self.host}:{self.port}>"


class PrinterJob(TimestampMixin, Base):
    """One print job sent to a printer: what it printed, who asked, and how it ended.

    The row is written (``sending``) and committed before the bytes leave, so a job the server
    could not finish recording is still there to see. Its tubes' ``labelled`` /
    ``label_reprinted`` events are written only once the printer has taken the bytes, and name
    the job (``details.print_job``)."""

    __tablename__ = "printer_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    printer_id: Mapped[int] = mapped_column(sa.ForeignKey("printers.id"))
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[PrintJobKind] = enum_column(PrintJobKind, "printer_job_kind")
    status: Mapped[PrintJobStatus] = enum_column(PrintJobStatus, "printer_job_status")
    collection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("collections.id"))
    label_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("label_batches.id"))
    container_id: Mapped[int | None] = mapped_column(sa.ForeignKey("containers.id"))
    # The tubes printed, in the order their labels came out (sample ids).
    sample_ids: Mapped[list[Any]] = mapped_column(sa.JSON)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    stock: Mapped[str] = mapped_column(sa.String(32))
    labels: Mapped[int]
    size_bytes: Mapped[int]
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    # Where the bytes went (the address the host name was found at), once known.
    address: Mapped[str | None] = mapped_column(sa.String(64))
    failure: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[datetime | None]

    printer: Mapped[Printer] = relationship(lazy="joined")
    requested_by: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        # A printer's jobs, newest first; and the one in flight, if any.
        sa.Index("ix_printer_jobs_printer_id_id", "printer_id", "id"),
        sa.CheckConstraint("(status = 'failed') = (failure IS NOT NULL)", name="failed_says_why"),
        sa.CheckConstraint(
            "(status = 'sending') = (finished_at IS NULL)", name="finished_unless_sending"
        ),
        sa.CheckConstraint(
            "(CASE WHEN collection_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN label_batch_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN container_id IS NULL THEN 0 ELSE 1 END) <= 1",
            name="one_subject",
        ),
    )

    def __repr__(self) -> str:
        return f"<PrinterJob {self.id} {self.kind} {self.status}>"
