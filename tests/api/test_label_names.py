"""Issue 14: a freezer or box name with personal data is a 422 naming the field, over the API
and the web pages alike (the screen is in the service both call)."""

from __future__ import annotations

NAME = "J Smith SSN 123-45-6789"


def _names_the_field(response) -> str:
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    [message] = response.get_json()["errors"]["name"]
    assert "a social security number" in message and "123" not in message
    return message


def test_the_api_screens_freezer_and_box_names(api, client, technician, freezer, boxes):
    caller = api(technician)
    _names_the_field(
        caller.post("/api/v1/storage/freezers", json={"name": NAME, "temperature_c": -80})
    )
    _names_the_field(
        caller.post(
            "/api/v1/storage/containers",
            json={"parent": freezer.id, "kind": "box", "name": NAME, "rows": 9, "cols": 9},
        )
    )
    _names_the_field(
        client.patch(
            f"/api/v1/storage/containers/{boxes[0].id}", json={"name": NAME}, headers=caller.headers
        )
    )
    assert caller.get(f"/api/v1/storage/containers/{boxes[0].id}").get_json()["name"] == "Box 1"


def test_the_api_screens_site_names(api, admin):
    _names_the_field(
        api(admin).post(
            "/api/v1/sites",
            json={
                "code": "JS-01",
                "name": NAME,
                "kind": "collection",
                "timezone": "America/Chicago",
            },
        )
    )
