"""Every report and dashboard query has an index to use on PostgreSQL.

Each query the reports run is EXPLAINed with sequential scans priced out
(``enable_seqscan = off``): the planner then takes an index whenever one fits, so a
``Seq Scan`` left on a big table means a filter no index serves. Test data is small; the
plan shape, not its speed, is what is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from biobank.extensions import db
from biobank.services.reporting import dashboards, reports
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work

pytestmark = pytest.mark.postgres  # skipped, with how to run it, on SQLite

# The tables that grow with the program: tubes, their events, positions and shipment lines.
BIG_TABLES = {"samples", "events", "storage_positions", "shipment_items", "sample_flags"}


@contextmanager
def captured_selects() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)


def sequential_scans(plan: dict[str, Any]) -> set[str]:
    found = set()
    if plan.get("Node Type") == "Seq Scan":
        found.add(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found |= sequential_scans(child)
    return found


def scanned_big_tables(statements: list[tuple[str, Any]]) -> dict[str, set[str]]:
    connection = db.session.connection().connection  # the psycopg connection
    cursor = connection.cursor()
    cursor.execute("SET LOCAL enable_seqscan = off")
    offenders = {}
    for statement, parameters in statements:
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        [[document]] = cursor.fetchall()
        tables = sequential_scans(document[0]["Plan"]) & BIG_TABLES
        if tables:
            offenders[" ".join(statement.split())[:300]] = tables
    return offenders


@pytest.fixture
def program(technician, collector, coordinator, received_tubes, freezer, finalized_collection):
    """Tubes in every state the reports look at: stored, received, finalized, in a box."""
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [t.barcode for t in tubes[:4]])
    finalized_collection(collector, "P444444444")
    return coordinator


@pytest.mark.parametrize("name", sorted(reports.REPORT_TABLES))
def test_each_report_uses_indexes(program, name):
    with captured_selects() as statements:
        reports.report_table(program, name)
    assert statements, "the report ran no query"
    assert scanned_big_tables(statements) == {}


def test_the_overdue_report_filtered_by_site_and_state_uses_indexes(program, clinic):
    with captured_selects() as statements:
        reports.overdue_tubes(program, site=clinic, state="overdue")
        reports.overdue_tubes(program, state="missing")
        reports.discrepancies(program, site=clinic)
    assert scanned_big_tables(statements) == {}


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator", "admin"])
def test_each_dashboard_uses_indexes(program, request, role):
    user = request.getfixturevalue(role)
    with captured_selects() as statements:
        dashboards.dashboard_for(user)
    assert statements
    assert scanned_big_tables(statements) == {}
