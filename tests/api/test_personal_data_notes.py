"""Issue 14: notes written the ways the old screen missed are a 422 beside the field, with a
message that names the kind of identifier and never repeats it."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("notes", "kind"),
    [
        ("123 45 6789", "a social security number"),
        ("123.45.6789", "a social security number"),
        ("mum: jane at example dot com", "an e-mail address"),
        ("jane＠example.com", "an e-mail address"),
        ("DOB 1980-03-14", "a date of birth"),
        ("born 03/14/1980", "a date of birth"),
        ("+1 555 123 4567", "a phone number"),
    ],
)
def test_collection_notes_with_personal_data_are_422_beside_notes(api, collector, notes, kind):
    response = api(collector).post(
        "/api/v1/collections",
        json={"participant_id": "P123456789", "kit": "BASELINE-ADULT", "notes": notes},
    )
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["notes"]
    assert kind in message and "remove" in message
    assert notes not in response.get_data(as_text=True)


def test_ordinary_notes_are_kept(api, collector):
    notes = "Spun at 1500 g for 10 min; haemolysed, 2 of 3 tubes; stored at -80 C"
    response = api(collector).post(
        "/api/v1/collections",
        json={"participant_id": "P123456789", "kit": "BASELINE-ADULT", "notes": notes},
    )
    assert response.status_code == 201 and response.get_json()["notes"] == notes
