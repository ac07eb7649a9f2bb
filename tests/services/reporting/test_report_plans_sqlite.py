"""The overdue report stays on its filter's index on SQLite once ANALYZE has run.

SQLite keeps no per-value statistics: after ANALYZE it believes a status matches an eighth
of the table, and would rather walk ``finalized_at``'s index in order (a million rows at
program scale) than sort the few outstanding tubes. The statistics of a million-tube
database are written here by hand, as ANALYZE would leave them, so the test data can stay
small while the planner sees program scale.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from biobank.db import sorted_after_filtering, utcnow
from biobank.extensions import db
from biobank.models import Sample
from biobank.services.reporting import reports
from tests.conftest import ON_POSTGRES

MILLION_TUBES = {
    "samples": "1000000",
    "ix_samples_status": "1000000 125000",
    "ix_samples_finalized_at": "1000000 2",
}


def overdue_selects(actor) -> list[tuple[str, tuple]]:
    seen: list[tuple[str, tuple]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if "FROM samples" in statement and statement.lstrip().startswith("SELECT samples."):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        reports.overdue_tubes(actor, now=utcnow() + timedelta(days=3))
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    return seen


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's planner; PostgreSQL's is checked by EXPLAIN")
def test_overdue_tubes_are_found_by_status_not_by_walking_every_tube(
    collector, coordinator, finalized_collection
):
    finalized_collection(collector)
    connection = db.session.connection()
    connection.exec_driver_sql("ANALYZE")
    for name, stat in MILLION_TUBES.items():
        column = "tbl" if name == "samples" else "idx"
        connection.execute(
            sa.text(f"UPDATE sqlite_stat1 SET stat = :stat WHERE {column} = :name"),
            {"stat": stat, "name": name},
        )
    connection.exec_driver_sql("ANALYZE sqlite_schema")  # reload the statistics

    [(statement, parameters)] = overdue_selects(coordinator)
    plan = [
        row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    ]
    assert any("USING INDEX ix_samples_status" in step for step in plan), plan
    assert not any(step.startswith("SCAN samples") for step in plan), plan


def test_only_sqlite_is_kept_off_the_sort_columns_index():
    stmt = sa.select(Sample.id).order_by(sorted_after_filtering(Sample.finalized_at))
    assert "ORDER BY +samples.finalized_at" in str(stmt.compile(dialect=sqlite.dialect()))
    assert "ORDER BY samples.finalized_at" in str(stmt.compile(dialect=postgresql.dialect()))
