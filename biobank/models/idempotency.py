from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from biobank.db import Base, utcnow


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` and the answer its first request got.

    A retry with the same key (after a timeout, say) gets that answer again instead of doing
    the work twice. ``status`` is NULL while the first request is still being handled.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)
