from __future__ import annotations

from tests.conftest import PASSWORD


def test_token_exchange_then_bearer_access(client, collector):
    response = client.post(
        "/api/v1/auth/tokens",
        json={"username": "collector", "password": PASSWORD, "name": "bench scanner"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("bbk_")
    assert body["expires_at"].endswith("+00:00")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json() == {
        "username": "collector",
        "full_name": "Collector",
        "role": "collector",
        "site": "UCSD-01",
    }


def test_wrong_password_is_401_problem_without_the_password(client, collector):
    response = client.post(
        "/api/v1/auth/tokens", json={"username": "collector", "password": "guess-me-please-1"}
    )
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "guess-me-please-1" not in response.get_data(as_text=True)


def test_no_token_is_401_with_a_hint(client):
    response = client.get("/api/v1/sites")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "POST /api/v1/auth/tokens" in response.get_json()["detail"]


def test_a_garbage_token_is_401(client):
    response = client.get("/api/v1/sites", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_revoked_token_stops_working(client, collector, auth_headers):
    response = client.post(
        "/api/v1/auth/tokens", json={"username": "collector", "password": PASSWORD}
    )
    token = response.get_json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert client.delete(f"/api/v1/auth/tokens/{token['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_token_request_missing_fields_is_422_naming_them(client):
    response = client.post("/api/v1/auth/tokens", json={})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"username", "password"}


def test_login_attempts_are_throttled_per_username(app, client, collector):
    app.config["BIOBANK_LOGIN_LIMIT"] = "3 per minute"
    statuses = [
        client.post(
            "/api/v1/auth/tokens", json={"username": "collector", "password": "wrong-guess-12"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    last = client.post(
        "/api/v1/auth/tokens", json={"username": "collector", "password": "wrong-guess-12"}
    )
    assert last.status_code == 429
    assert int(last.headers["Retry-After"]) > 0
    assert last.mimetype == "application/problem+json"


def test_wrong_passwords_lock_token_requests_across_processes_with_a_429(app, client, collector):
    """Counted in the database, so every process sees the same count (not only this one's
    flask-limiter memory)."""
    app.config["BIOBANK_LOGIN_MAX_FAILURES"] = 3
    body = {"username": "collector", "password": "wrong-guess-12"}
    statuses = [client.post("/api/v1/auth/tokens", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    locked = client.post("/api/v1/auth/tokens", json={**body, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.mimetype == "application/problem+json"
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    problem = locked.get_json()
    assert problem["type"] == "urn:biobank:problem:too-many-attempts"
    assert "signing in is locked for your account" in problem["detail"]
    assert PASSWORD not in locked.get_data(as_text=True)
