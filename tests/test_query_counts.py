"""SQL statements per request do not grow with the data: no N+1 anywhere on the main pages
and API routes. Each page is counted on a small world, the world grows (more collections,
tubes, shipments, stored tubes, events), and the same page is counted again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from biobank.extensions import db
from biobank.services.shipping import receiving
from biobank.services.storage import lifecycle, placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD


@contextmanager
def counting() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def statements_for(client, path: str, headers=None) -> int:
    client.get(path, headers=headers)  # warm: first-request work is not per-row work
    with counting() as seen:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return len(seen)


@pytest.fixture
def world(
    collector,
    other_collector,
    technician,
    coordinator,
    start_collection,
    finalized_collection,
    received_tubes,
    dispatched_shipment,
    freezer,
    boxes,
):
    """A small program that `grow()` makes several times bigger in every direction."""

    def grow(times: int) -> dict[str, object]:
        made = {}
        for n in range(times):
            start_collection(collector, f"P30000{n:04d}")
            shipment = dispatched_shipment(collector, participant_id=f"P31000{n:04d}")
            tubes = received_tubes(collector, participant_id=f"P32000{n:04d}")
            with unit_of_work():
                placing.store_many(technician, freezer, [t.barcode for t in tubes])
                lifecycle.thaw(technician, tubes[0].barcode)
            made = {"shipment": shipment, "tube": tubes[0], "box": boxes[0]}
        with unit_of_work():
            receiving.close_receipt(
                technician, made["shipment"], condition="good", signature_password=PASSWORD
            )
        return made

    return grow


PAGES = {
    "collector": ["/", "/collections?status=all", "/collections/1", "/shipments?status=all"],
    "technician": ["/", "/receiving", "/storage/", "/storage/freezers/1", "BOX", "TUBE", "RECEIPT"],
    "coordinator": ["/", "/reports/overdue", "/reports/discrepancies", "/shipments?status=all"],
}
API = [
    "/api/v1/collections",
    "/api/v1/collections/1",
    "/api/v1/samples",
    "API_TUBE",
    "API_EVENTS",
    "API_BOX",
    "API_SHIPMENT",
    "/api/v1/shipments",
    "/api/v1/reports/overdue",
    "/api/v1/reports/occupancy",
    "/api/v1/storage/freezers",
]


def _resolve(path: str, made) -> str:
    return {
        "BOX": f"/storage/boxes/{made['box'].id}",
        "TUBE": f"/samples/{made['tube'].barcode}",
        "RECEIPT": f"/receiving/{made['shipment'].id}",
        "API_TUBE": f"/api/v1/samples/{made['tube'].barcode}",
        "API_EVENTS": f"/api/v1/samples/{made['tube'].barcode}/events",
        "API_BOX": f"/api/v1/storage/boxes/{made['box'].id}",
        "API_SHIPMENT": f"/api/v1/shipments/{made['shipment'].id}",
    }.get(path, path)


def test_pages_and_routes_cost_the_same_queries_at_any_size(
    world, app, login, auth_headers, collector, technician, coordinator
):
    users = {"collector": collector, "technician": technician, "coordinator": coordinator}
    clients = {role: app.test_client() for role in users}
    small = world(2)  # two of everything, one shipment left in transit
    tokens = {role: auth_headers(user) for role, user in users.items()}
    for role, user in users.items():
        from tests.conftest import csrf_token_from

        client = clients[role]
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        client.post(
            "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
        )

    def measure(made) -> dict[tuple[str, str], int]:
        counts = {}
        for role, paths in PAGES.items():
            for path in paths:
                counts[(role, path)] = statements_for(clients[role], _resolve(path, made))
        for path in API:
            counts[("api", path)] = statements_for(
                clients["coordinator"], _resolve(path, made), tokens["coordinator"]
            )
        return counts

    before = measure(small)
    bigger = world(6)  # three times the collections, shipments, stored tubes and events
    after = measure({**bigger, "tube": small["tube"], "box": small["box"]})
    grew = {key: (before[key], after[key]) for key in before if after[key] > before[key]}
    assert grew == {}, f"statements grew with the data (before, after): {grew}"
    assert max(after.values()) < 40, after  # and stays modest
