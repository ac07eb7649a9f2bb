"""Issue 14: the storage forms refuse a freezer or box name with personal data beside the
field, as the API does (the screen is in the service both call)."""

from __future__ import annotations

from tests.conftest import csrf_token_from

NAME = "J Smith SSN 123-45-6789"


def test_the_web_forms_screen_freezer_and_box_names(login, technician, freezer, boxes):
    client = login(technician)
    csrf = csrf_token_from(client.get("/storage/").get_data(as_text=True))
    added = client.post(
        "/storage/freezers", data={"csrf_token": csrf, "name": NAME, "temperature_c": "-80"}
    )
    assert added.status_code == 422
    assert "a social security number" in added.get_data(as_text=True)
    renamed = client.post(
        f"/storage/containers/{boxes[0].id}/rename", data={"csrf_token": csrf, "name": NAME}
    )
    assert renamed.status_code == 422
    html = renamed.get_data(as_text=True)
    assert "a social security number" in html and "Names print on labels" in html
