from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from biobank.db import Base, TimestampMixin, utcnow


class Participant(TimestampMixin, Base):
    """Consent facts synced from the enrollment system, keyed by the pseudonymous ID only.

    The link from this ID to a person lives in another system, never here.
    """

    __tablename__ = "participants"
    # A distribution proposal asks this of every candidate tube's participant: answered from
    # the index alone (services.distribution.requests.propose).
    __table_args__ = (
        sa.Index(
            "ix_participants_consent", "participant_id", "biospecimen_consent", "withdrawn_at"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    biospecimen_consent: Mapped[bool]
    withdrawn_at: Mapped[datetime | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Some participants ask for their samples to be returned or disposed of with ceremony.
    disposal_ceremony: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
