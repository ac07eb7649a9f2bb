from __future__ import annotations

from biobank.services.core import accounts
from tests.conftest import csrf_token_from


def test_admin_deactivates_a_user_from_the_home_page(admin, collector, login, app):
    other = app.test_client()
    from tests.conftest import PASSWORD

    token = csrf_token_from(other.get("/login").get_data(as_text=True))
    other.post("/login", data={"username": "collector", "password": PASSWORD, "csrf_token": token})
    assert other.get("/").status_code == 200
    client = login(admin)
    html = client.get("/").get_data(as_text=True)
    assert 'aria-label="Deactivate collector"' in html
    response = client.post(
        "/admin/users/collector/deactivate", data={"csrf_token": csrf_token_from(html)}
    )
    assert response.status_code == 302
    assert not accounts.get_user("collector").active
    assert other.get("/").status_code == 302  # the collector's session ended at once


def test_only_admins_may(collector, login):
    client = login(collector)
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert (
        client.post("/admin/users/collector/deactivate", data={"csrf_token": token}).status_code
        == 403
    )


def test_admin_unlocks_a_user_locked_out_of_signing_from_the_home_page(admin, technician, login):
    import pytest

    from biobank.errors import ValidationFailed
    from biobank.unit_of_work import unit_of_work
    from tests.conftest import PASSWORD

    client = login(admin)
    assert 'aria-label="Unlock technician"' not in client.get("/").get_data(as_text=True)
    for _ in range(5):
        with pytest.raises(ValidationFailed), unit_of_work():
            accounts.sign(technician, "wrong-password-42", accounts.Meaning.RECEIPT)
    html = client.get("/").get_data(as_text=True)
    assert "locked out" in html and 'aria-label="Unlock technician"' in html
    response = client.post(
        "/admin/users/technician/unlock", data={"csrf_token": csrf_token_from(html)}
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "technician is unlocked" in page
    assert 'aria-label="Unlock technician"' not in page
    assert accounts.sign(technician, PASSWORD, accounts.Meaning.RECEIPT)["signer"] == "technician"
