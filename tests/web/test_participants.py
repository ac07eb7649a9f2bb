"""The participants page: coordinators and admins record consent and withdrawal by the
pseudonymous ID; a withdrawal flags the participant's tubes for disposal."""

from __future__ import annotations

import pytest

from biobank.services.collecting import participants
from tests.conftest import csrf_token_from

PARTICIPANT = "P123456789"


def save(client, participant_id: str, **data):
    page = client.get(f"/participants?participant_id={participant_id}").get_data(as_text=True)
    return client.post(
        f"/participants/{participant_id}", data={"csrf_token": csrf_token_from(page), **data}
    )


def test_a_coordinator_records_consent_then_a_withdrawal_that_flags_the_tubes(
    coordinator, login, collector, finalized_collection
):
    client = login(coordinator)
    assert 'href="/participants"' in client.get("/").get_data(as_text=True)
    page = client.get("/participants?participant_id=p123456789").get_data(as_text=True)
    assert "Not recorded yet" in page and f'<h2 id="participant-title">{PARTICIPANT}' in page

    saved = save(client, PARTICIPANT, biospecimen_consent="y")
    assert saved.status_code == 302
    shown = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert f"{PARTICIPANT} recorded." in shown
    assert "Biospecimen consent</dt><dd>given" in shown
    assert participants.find_participant(PARTICIPANT).biospecimen_consent is True

    finalized_collection(collector, PARTICIPANT)  # 8 tubes drawn with consent
    withdrawn = save(
        client,
        PARTICIPANT,
        biospecimen_consent="y",
        withdrawn_at="2026-01-15",
        withdrawal_reason="moved away",
        disposal_ceremony="y",
    )
    shown = client.get(withdrawn.headers["Location"]).get_data(as_text=True)
    assert f"{PARTICIPANT} updated: withdrawn, 8 tubes to dispose of." in shown
    assert "Withdrawn</dt><dd>2026-01-15 · moved away" in shown
    assert 'href="/reports/disposals">8 tubes</a>' in shown
    recorded = participants.find_participant(PARTICIPANT)
    assert recorded.disposal_ceremony is True and recorded.withdrawal_reason == "moved away"


def test_bad_input_is_refused_beside_its_field(admin, login):
    client = login(admin)
    looked = client.get("/participants?participant_id=12345")
    assert looked.status_code == 422
    assert "a participant ID is P followed by 9 digits" in looked.get_data(as_text=True)
    future = save(client, PARTICIPANT, withdrawn_at="2999-01-01")
    assert future.status_code == 422
    error = future.get_data(as_text=True).split('id="participant-withdrawn-error">', 1)[1]
    assert "is in the future" in error.split("</p>", 1)[0]
    assert participants.find_participant(PARTICIPANT) is None
    assert client.post("/participants/not-an-id").status_code in (400, 404)


@pytest.mark.parametrize("role", ["collector", "technician"])
def test_only_coordinators_and_admins_record_participants(request, login, role, clinic):
    client = login(request.getfixturevalue(role))
    assert client.get("/participants").status_code == 403
    assert 'href="/participants"' not in client.get("/").get_data(as_text=True)
