"""The API's answer to two people clicking at once (issue 14): one 2xx, the rest a 409 whose
problem+json says why. Races run on PostgreSQL only; a stale second click is refused on any
database when the client says what it saw."""

from __future__ import annotations

import pytest

from biobank.services.storage import placing
from biobank.services.storage.storage_paths import location_of
from biobank.unit_of_work import unit_of_work
from tests.concurrency import race
from tests.conftest import PASSWORD

N = 16
PROBLEM = "application/problem+json"


@pytest.fixture
def sst(technician, collector, boxes, received_tubes):
    """A stored 1SST8 (8 mL) in Box 1."""
    tubes = received_tubes(collector)
    with unit_of_work():
        for tube in tubes:
            placing.store_sample(technician, boxes[0], tube.barcode)
    return next(t for t in tubes if t.tube_type.code == "1SST8")


def api_race(app, headers, path, body=None) -> list[tuple[int, dict]]:
    """N clients POST at once; each answer's status and JSON."""

    def post(_i: int):
        response = app.test_client().post(path, headers=headers, json=body or {})
        return response.status_code, response.get_json(), response.mimetype

    results = race(app, N, post, commit=False)
    assert all(r.error is None for r in results), results
    answers = [r.value for r in results]
    for status, _, mimetype in answers:
        if status == 409:
            assert mimetype == PROBLEM
    return [(status, json) for status, json, _ in answers]


def one_2xx_rest_409(answers, ok: int = 200) -> list[dict]:
    statuses = sorted(status for status, _ in answers)
    assert statuses == [ok] + [409] * (N - 1), statuses
    return [json for status, json in answers if status == 409]


@pytest.mark.postgres
def test_sixteen_thaw_requests_with_the_count_seen_answer_one_200(
    app, auth_headers, technician, sst
):
    answers = api_race(
        app, auth_headers(technician), f"/api/v1/samples/{sst.barcode}/thaw", {"cycles_seen": 0}
    )
    for problem in one_2xx_rest_409(answers):
        assert problem["type"] == "urn:biobank:problem:changed-meanwhile"
        assert problem["title"] == "Changed by someone else"
        assert "was thawed by you" in problem["detail"]
        assert "freeze–thaw count 1 (you saw 0)" in problem["detail"]
        assert problem["freeze_thaw_count"] == 1


@pytest.mark.postgres
def test_sixteen_check_out_requests_answer_one_200(app, auth_headers, technician, sst):
    answers = api_race(
        app, auth_headers(technician), f"/api/v1/samples/{sst.barcode}/check-out", {}
    )
    for problem in one_2xx_rest_409(answers):
        assert problem["type"] == "urn:biobank:problem:invalid-transition"
        assert problem["sample_status"] == "checked_out"
        assert "It was checked out by you" in problem["detail"]
        assert "Reload the tube's page" in problem["detail"]


@pytest.mark.postgres
def test_sixteen_aliquot_requests_take_the_volume_once(app, auth_headers, technician, sst):
    answers = api_race(
        app,
        auth_headers(technician),
        f"/api/v1/samples/{sst.barcode}/aliquot",
        {"count": 1, "volume_ml": 6, "volume_seen_ml": 8},
    )
    for problem in one_2xx_rest_409(answers, ok=201):
        assert "it now holds 2 mL (you saw 8 mL)" in problem["detail"]


@pytest.mark.postgres
def test_sixteen_move_requests_from_where_they_saw_it_answer_one_200(
    app, auth_headers, technician, boxes, sst
):
    seen = {"box": boxes[0].id, "position": location_of(sst)["position"]}
    headers, path, target = (
        auth_headers(technician),
        f"/api/v1/samples/{sst.barcode}/move",
        boxes[1].id,
    )

    def post(i: int):
        response = app.test_client().post(
            path,
            headers=headers,
            json={
                "box": target,
                "position": f"{'AB'[i // 9]}{1 + i % 9}",
                "moving_from": seen,
            },
        )
        return response.status_code, response.get_json()

    results = race(app, N, post, commit=False)
    assert all(r.error is None for r in results), results
    answers = [r.value for r in results]
    for problem in one_2xx_rest_409(answers):
        assert problem["type"] == "urn:biobank:problem:changed-meanwhile"
        assert f"not where you saw it ({seen['position']})" in problem["detail"]
        assert problem["location"]["box"] == "Box 2"


@pytest.mark.postgres
def test_sixteen_signed_disposal_requests_answer_one_200(app, auth_headers, technician, sst):
    answers = api_race(
        app,
        auth_headers(technician),
        f"/api/v1/samples/{sst.barcode}/dispose",
        {"reason": "protocol", "signature_password": PASSWORD},
    )
    for problem in one_2xx_rest_409(answers):
        assert (
            "is disposed: it cannot be disposed of. It was disposed of by you"
            in (problem["detail"])
        )


# --- a stale second click, on any database ------------------------------------------------


def test_a_stale_thaw_is_refused_with_the_count_now(api, technician, sst):
    caller = api(technician)
    path = f"/api/v1/samples/{sst.barcode}/thaw"
    assert caller.post(path, json={"cycles_seen": 0}).status_code == 200
    again = caller.post(path, json={"cycles_seen": 0})
    assert again.status_code == 409
    assert "it is now at freeze–thaw count 1 (you saw 0)" in again.get_json()["detail"]
    # Without a count every request counts a cycle, as before.
    assert caller.post(path).get_json()["freeze_thaw_count"] == 2
    assert caller.post(path, json={"cycles_seen": -1}).status_code == 422


def test_a_stale_move_is_refused_saying_where_the_tube_is(api, technician, boxes, sst):
    caller = api(technician)
    seen = {"box": boxes[0].id, "position": location_of(sst)["position"]}
    path = f"/api/v1/samples/{sst.barcode}/move"
    first = caller.post(path, json={"box": boxes[1].id, "position": "C3", "moving_from": seen})
    assert first.status_code == 200
    stale = caller.post(path, json={"box": boxes[1].id, "position": "D4", "moving_from": seen})
    assert stale.status_code == 409
    problem = stale.get_json()
    assert "it is now at Freezer 1 › Shelf 1 › Box 2 › C3" in problem["detail"]
    assert problem["location"]["position"] == "C3"
    bad = caller.post(path, json={"box": boxes[1].id, "moving_from": {"box": boxes[0].id}})
    assert bad.status_code == 422 and "moving_from.position" in bad.get_json()["errors"]


def test_a_stale_aliquot_is_refused_with_the_volume_now(api, technician, sst):
    caller = api(technician)
    path = f"/api/v1/samples/{sst.barcode}/aliquot"
    body = {"count": 1, "volume_ml": 1, "volume_seen_ml": 8}
    assert caller.post(path, json=body).status_code == 201
    stale = caller.post(path, json=body)
    assert stale.status_code == 409
    assert "it now holds 7 mL (you saw 8 mL)" in stale.get_json()["detail"]
