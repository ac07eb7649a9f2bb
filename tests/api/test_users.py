from __future__ import annotations

import pytest

from tests.conftest import PASSWORD


def test_admin_creates_and_deactivates_a_user_whose_tokens_stop_at_once(api, client, admin, clinic):
    created = api(admin).post(
        "/api/v1/users",
        json={
            "username": "new.collector",
            "full_name": "New Collector",
            "role": "collector",
            "site": "UCSD-01",
            "password": "fresh-pipette-1234",
        },
    )
    assert created.status_code == 201
    assert "password" not in created.get_json()
    token = client.post(
        "/api/v1/auth/tokens", json={"username": "new.collector", "password": "fresh-pipette-1234"}
    ).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    gone = api(admin).post("/api/v1/users/new.collector/deactivate")
    assert gone.status_code == 200 and gone.get_json()["active"] is False
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/tokens",
            json={"username": "new.collector", "password": "fresh-pipette-1234"},
        ).status_code
        == 401
    )
    back = api(admin).post("/api/v1/users/new.collector/reactivate")
    assert back.get_json()["active"] is True
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401  # still revoked


def test_weak_passwords_and_duplicates_are_refused(api, admin, collector):
    weak = api(admin).post(
        "/api/v1/users",
        json={
            "username": "x.y",
            "full_name": "X",
            "role": "collector",
            "site": "UCSD-01",
            "password": "password1234",
        },
    )
    assert weak.status_code == 422 and "password" in weak.get_json()["errors"]
    taken = api(admin).post(
        "/api/v1/users",
        json={
            "username": "collector",
            "full_name": "X",
            "role": "collector",
            "site": "UCSD-01",
            "password": PASSWORD,
        },
    )
    assert taken.status_code == 409


def test_only_admins_manage_users(api, collector, admin):
    assert api(collector).get("/api/v1/users").status_code == 403
    assert api(collector).post("/api/v1/users/admin/deactivate").status_code == 403
    assert api(admin).post("/api/v1/users/admin/deactivate").status_code == 409  # not yourself
    assert api(admin).post("/api/v1/users/nobody/deactivate").status_code == 404


def test_unlocking_is_for_admins_and_names_what_was_unlocked(
    api, client, admin, collector, technician
):
    from biobank.errors import ValidationFailed
    from biobank.services.core import accounts
    from biobank.unit_of_work import unit_of_work

    for _ in range(5):
        with pytest.raises(ValidationFailed), unit_of_work():
            accounts.sign(technician, "wrong-password-42", accounts.Meaning.DISPOSAL)
    path = "/api/v1/users/technician/unlock"
    assert client.post(path, json={}).status_code == 401
    refused = api(collector).post(path, json={})
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert api(admin).post("/api/v1/users/nobody.here/unlock", json={}).status_code == 404
    bad = api(admin).post(path, json={"purpose": "everything"})
    assert bad.status_code == 422 and "purpose" in bad.get_json()["errors"]
    done = api(admin).post(path, json={"purpose": "signature"})
    assert done.status_code == 200
    assert done.get_json() == {"username": "technician", "unlocked": ["signature"]}
    again = api(admin).post(path)  # no body at all: everything, and nothing is left
    assert again.status_code == 200 and again.get_json()["unlocked"] == []
