from __future__ import annotations

import pytest

from biobank.models import Role
from tests.conftest import PASSWORD, csrf_token_from


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_login_form_carries_a_csrf_token(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'name="csrf_token"' in html
    assert 'autocomplete="current-password"' in html


def test_login_without_csrf_token_is_refused(client, collector):
    response = client.post("/login", data={"username": "collector", "password": PASSWORD})
    assert response.status_code == 400


def test_wrong_password_keeps_the_username_and_says_why(client, collector):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"username": "collector", "password": "not-the-password", "csrf_token": token},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert 'value="collector"' in html
    assert "username or password is not right" in html
    assert "not-the-password" not in html


def test_a_username_with_a_nul_is_no_user_not_a_server_error(client, collector):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"username": "collec\x00tor", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 401
    assert "username or password is not right" in response.get_data(as_text=True)


def test_login_redirects_only_to_local_paths(client, collector):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "collector", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("role", "heading"),
    [
        (Role.COLLECTOR, "today"),
        (Role.TECHNICIAN, "receiving and storage"),
        (Role.COORDINATOR, "Program overview"),
        (Role.ADMIN, "Administration"),
    ],
)
def test_each_role_gets_its_own_home_page(make_user, clinic, login, role, heading):
    user = make_user(f"user.{role}", role, clinic)
    client = login(user)
    html = client.get("/").get_data(as_text=True)
    assert heading in html
    assert f"user.{role}".replace(".", " ").title() in html


def test_admin_home_lists_real_sites_and_users(admin, collector, login):
    html = login(admin).get("/").get_data(as_text=True)
    assert "UCSD-01" in html and "MAYO-BB" in html
    assert "collector" in html


def test_logout_ends_the_session(collector, login):
    client = login(collector)
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_deactivated_user_is_logged_out_at_once(app, admin, collector, login):
    from biobank.services.core import accounts
    from biobank.unit_of_work import unit_of_work

    client = login(collector)
    assert client.get("/").status_code == 200
    with unit_of_work():
        accounts.deactivate_user(admin, collector)
    assert client.get("/").status_code == 302


def test_web_404_is_an_html_page(client):
    response = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "<html" in response.get_data(as_text=True)


def test_session_cookie_flags(client, collector, login):
    client = login(collector)
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_a_locked_out_login_says_until_when_and_who_can_unlock(app, client, collector):
    app.config["BIOBANK_LOGIN_MAX_FAILURES"] = 2

    def post(password: str):
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        return client.post(
            "/login",
            data={"username": "collector", "password": password, "csrf_token": token},
        )

    assert [post("wrong-guess-1234").status_code for _ in range(2)] == [401, 401]
    locked = post(PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    html = locked.get_data(as_text=True)
    assert "signing in is locked for your account until" in html
    assert "ask an administrator to unlock it" in html
    assert 'value="collector"' in html  # the username is kept
    assert client.get("/").status_code == 302  # not logged in
