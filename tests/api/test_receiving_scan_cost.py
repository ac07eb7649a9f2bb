"""What one receipt scan costs the database: one transaction that reads what it needs, writes the
scan and its event, and commits; the answer is built before the commit, so nothing is read
after it. With an Idempotency-Key: one statement to claim the key, one to keep the answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from biobank.extensions import db

COMMIT = "-- commit"
# A plain scan of an expected tube: the token, the shipment (locked), the tube and its item
# received by two guarded UPDATEs, the event and the counts; plus, on SQLite, BEGIN for the
# token's read, BEGIN IMMEDIATE, the user read again inside the write transaction and the next
# event id.
PLAIN_SCAN = {"sqlite": 10, "postgresql": 7}
# + the claim and the answer, all in the scan's transaction on PostgreSQL; SQLite reads the user
# again and begins one more write transaction, for the claim.
KEYED_SCAN = {"sqlite": 14, "postgresql": 9}


@contextmanager
def recording() -> Iterator[list[str]]:
    seen: list[str] = []

    def statement(conn, cursor, text, *args):
        seen.append(" ".join(text.split()))

    def commit(conn):
        seen.append(COMMIT)

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)


def _after_last_commit(seen: list[str]) -> list[str]:
    return seen[len(seen) - seen[::-1].index(COMMIT) :]


@pytest.fixture
def scan(client, auth_headers, technician, collector, dispatched_shipment):
    shipment = dispatched_shipment(collector)
    barcodes = [item.sample.barcode for item in shipment.items]
    headers = auth_headers(technician)
    path = f"/api/v1/shipments/{shipment.id}/receipt/scans"
    client.post(path, json={"barcode": barcodes.pop()}, headers=headers)  # opens the receipt

    def do(key: str | None = None):
        extra = {"Idempotency-Key": key} if key else {}
        response = client.post(path, json={"barcode": barcodes.pop()}, headers=headers | extra)
        assert response.status_code == 200
        assert response.get_json()["outcome"] == "expected"
        return response

    return do


def test_a_scan_is_one_transaction_and_nothing_is_read_after_it(scan):
    with recording() as seen:
        answer = scan().get_json()
    assert answer["barcode"] and answer["tube_type"] and answer["counts"]["received"] == 2
    statements = [s for s in seen if s != COMMIT]
    assert len(statements) <= PLAIN_SCAN[db.engine.dialect.name], statements
    assert sum(s.startswith("INSERT INTO events") for s in statements) == 1
    assert sum(s.startswith("UPDATE samples") for s in statements) == 1
    assert sum(s.startswith("UPDATE shipment_items") for s in statements) == 1
    # The tube is received by guarded UPDATEs: neither it nor its flags are loaded first.
    assert not any(s.startswith(("SELECT samples", "SELECT sample_flags")) for s in statements)
    assert _after_last_commit(seen) == [], "the answer reads nothing after the commit"


def test_an_idempotency_key_costs_a_claim_and_an_answer_kept_in_the_scans_commit(scan):
    with recording() as seen:
        scan(key="scan-cost-1")
    statements = [s for s in seen if s != COMMIT]
    assert len(statements) <= KEYED_SCAN[db.engine.dialect.name], statements
    # PostgreSQL: the claim, the scan and its answer commit together; SQLite commits the token's
    # snapshot and the claim on their own first.
    assert seen.count(COMMIT) == {"postgresql": 1, "sqlite": 3}[db.engine.dialect.name]
    claims = [s for s in statements if "idempotency_keys" in s]
    assert len(claims) == 2, claims
    assert claims[0].startswith("INSERT INTO idempotency_keys") and "ON CONFLICT" in claims[0]
    assert claims[1].startswith("UPDATE idempotency_keys")
    scan_and_answer = _after_last_commit(seen[:-1]) if seen.count(COMMIT) > 1 else seen[:-1]
    assert claims[1] in scan_and_answer
    assert any(s.startswith("INSERT INTO events") for s in scan_and_answer)
    assert _after_last_commit(seen) == [], "nothing after the commit"
