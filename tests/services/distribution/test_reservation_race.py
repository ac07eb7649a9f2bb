"""Sixteen approvals at once, each reaching for tubes the others want too (PostgreSQL only:
SQLite serialises every writer). Every tube ends reserved exactly once, and every approval is
told what it got and which of its tubes another request took."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import DistributionItem, DistributionRequest, Event, RequestStatus, Sample
from biobank.services.core.custody_log import verify_chain
from biobank.services.distribution import requests
from biobank.services.distribution.requests import Approval
from tests.concurrency import conflicts, others, race, winners

pytestmark = pytest.mark.postgres

N = 16
WINDOW = 6  # each approval asks for six tubes; its neighbours want five of them too


def test_racing_approvals_reserve_each_tube_once_and_tell_each_what_it_got(
    app, coordinator, store_participant, make_request
):
    tubes = []
    for n in range(8):
        tubes += [t for t in store_participant(f"P20000000{n}") if t.tube_type.specimen == "serum"]
    barcodes = [t.barcode for t in tubes]
    assert len(barcodes) == N
    drafts = [make_request(participants_wanted=8) for _ in range(N)]
    chosen = [[barcodes[(i + k) % N] for k in range(WINDOW)] for i in range(N)]
    request_ids = [r.id for r in drafts]
    coordinator_id = coordinator.id

    def approve(i: int) -> Approval:
        from biobank.models import User

        actor = db.session.get(User, coordinator_id)
        request = db.session.get(DistributionRequest, request_ids[i])
        return requests.approve(actor, request, chosen[i])

    results = race(app, N, approve)
    assert not others(results), others(results)
    got: dict[int, set[str]] = {}
    for result in results:
        if result.won:
            approval = result.value
            assert approval.unavailable == []
            reserved, taken = set(approval.reserved), approval.taken
        else:  # got nothing: a 409 that says which request took each tube
            reserved, taken = set(), result.error.extra["taken"]
            assert "stays a draft" in result.detail
        assert reserved | set(taken) == set(chosen[result.index])
        assert not reserved & set(taken)
        got[request_ids[result.index]] = reserved
    assert len(winners(results)) + len(conflicts(results)) == N
    told = sum(len(r.value.taken if r.won else r.error.extra["taken"]) for r in results)
    assert told == N * WINDOW - N  # every tube asked for and not got was named as taken

    db.session.remove()
    holder = {
        barcode: request_id
        for barcode, request_id in db.session.execute(
            sa.select(Sample.barcode, Sample.reserved_for_request_id)
        )
    }
    # Each tube reserved once, by the request that was told it got it.
    everyone = Counter(b for reserved in got.values() for b in reserved)
    assert set(everyone) == set(barcodes) and set(everyone.values()) == {1}
    for request_id, reserved in got.items():
        assert all(holder[b] == request_id for b in reserved)
    for result in results:
        taken = result.value.taken if result.won else result.error.extra["taken"]
        assert all(holder[b] == by for b, by in taken.items())
    # One reserved event and one open item per tube; approved exactly when it got something.
    events = db.session.scalars(sa.select(Event.sample_id).where(Event.type == "reserved")).all()
    assert sorted(Counter(events).values()) == [1] * N
    open_items = db.session.scalars(
        sa.select(DistributionItem.sample_id).where(DistributionItem.released_at.is_(None))
    ).all()
    assert sorted(Counter(open_items).values()) == [1] * N
    statuses = dict(
        db.session.execute(sa.select(DistributionRequest.id, DistributionRequest.status)).all()
    )
    for request_id, reserved in got.items():
        expected = RequestStatus.APPROVED if reserved else RequestStatus.DRAFT
        assert statuses[request_id] == expected
    assert verify_chain().intact
