"""Figures of closed days, kept so that a window of 90 days costs 90 rows, not every tube in it.

A day's figure is computed once, the first time a report asks for it after the day ended, and
kept with the version of the day it was computed from. ``tally_versions`` holds, per UTC day,
how often the tubes stored on that day changed after the fact (a draw time corrected, tubes
loaded in bulk): triggers on ``samples`` raise it (migration 4d2a8e6b9c10), whichever code
wrote the change. A kept figure whose version is not the day's current one is computed again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from biobank.db import Base


class TallyVersion(Base):
    __tablename__ = "tally_versions"

    # The UTC day (YYYY-MM-DD) of the tubes' stored_at.
    day: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    version: Mapped[int] = mapped_column(server_default="0")


class DayTally(Base):
    __tablename__ = "day_tallies"

    figure: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    day: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    # The day's version this figure was computed from: stale when the day's has moved on.
    version: Mapped[int]
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
