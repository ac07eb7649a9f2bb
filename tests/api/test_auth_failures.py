"""GET /api/v1/auth/failures (admins), what the API records of failed sign-ins and signatures,
and the limit holding across two app processes on one PostgreSQL (issue 19)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import AuthFailure, AuthFailureReason, ThrottlePurpose
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, base_config

PATH = "/api/v1/auth/failures"
GUESS = "guessed-password-77"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _token_request(client, username: str, password: str = GUESS, address: str = "192.0.2.10"):
    return client.post(
        "/api/v1/auth/tokens",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_token_requests_are_listed_for_admins(api, client, admin, collector):
    assert _token_request(client, "collector").status_code == 401
    assert _token_request(client, "ghost", address="198.51.100.9").status_code == 401
    response = api(admin).get(PATH)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 50)
    ghost, wrong = body["items"]  # newest first
    assert ghost == {
        "id": ghost["id"],
        "at": ghost["at"],
        "purpose": "login",
        "reason": "unknown_user",
        "username": "ghost",
        "account": None,
        "address": "198.51.100.9",
    }
    assert (wrong["reason"], wrong["username"], wrong["account"], wrong["address"]) == (
        "wrong_password",
        "collector",
        "collector",
        "192.0.2.10",
    )
    assert datetime.fromisoformat(wrong["at"]).utcoffset() == timedelta(0)
    assert GUESS not in response.get_data(as_text=True)


def test_a_wrong_signature_through_the_api_is_recorded_with_the_address(
    api, client, technician, admin, collector, received_tubes, boxes
):
    tube = received_tubes(collector)[0]
    response = client.post(
        f"/api/v1/samples/{tube.barcode}/dispose",
        json={"reason": "expired", "signature_password": GUESS},
        headers=api(technician).headers,
        environ_base={"REMOTE_ADDR": "192.0.2.44"},
    )
    assert response.status_code == 422
    [failure] = api(admin).get(PATH).get_json()["items"]
    assert failure["purpose"] == "signature" and failure["reason"] == "wrong_password"
    assert (failure["account"], failure["address"]) == ("technician", "192.0.2.44")


@pytest.fixture
def recorded(app, collector):
    """Five failures a minute apart from T0, the last an e-signature."""
    with unit_of_work():
        for minute in range(5):
            db.session.add(
                AuthFailure(
                    at=T0 + timedelta(minutes=minute),
                    purpose=ThrottlePurpose.SIGNATURE if minute == 4 else ThrottlePurpose.LOGIN,
                    reason=AuthFailureReason.WRONG_PASSWORD,
                    username="collector" if minute % 2 else f"Guess.{minute}",
                    user_id=collector.id if minute % 2 else None,
                    address=f"192.0.2.{minute % 2}",
                )
            )


def _usernames(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["username"] for item in response.get_json()["items"]]


def test_filters_and_pages(api, admin, recorded):
    caller = api(admin)
    assert _usernames(caller.get(PATH)) == [
        "Guess.4",
        "collector",
        "Guess.2",
        "collector",
        "Guess.0",
    ]
    assert _usernames(caller.get(PATH + "?purpose=signature")) == ["Guess.4"]
    assert _usernames(caller.get(PATH + "?username=guess.2")) == ["Guess.2"]
    assert _usernames(caller.get(PATH + "?address=192.0.2.1")) == ["collector", "collector"]
    window = {
        "since": (T0 + timedelta(minutes=1)).isoformat(),
        "until": (T0 + timedelta(minutes=3)).isoformat(),
    }
    assert _usernames(caller.get(PATH, query_string=window)) == ["Guess.2", "collector"]
    second = caller.get(PATH + "?per_page=2&page=2").get_json()
    assert second["total"] == 5
    assert [item["username"] for item in second["items"]] == ["Guess.2", "collector"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("purpose=everything", "purpose"),
        ("since=2026-03-01", "since"),  # no UTC offset
        ("until=2999-01-01T00:00:00Z", "until"),  # in the future
        ("since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"),
        ("username=" + "x" * 65, "username"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field(api, admin, query, field):
    response = api(admin).get(f"{PATH}?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator"])
def test_only_admins_read_them(request, api, role):
    response = api(request.getfixturevalue(role)).get(PATH)
    assert response.status_code == 403
    assert "may not read the failed sign-ins and signatures" in response.get_json()["detail"]


def test_without_a_token_it_is_401(client):
    assert client.get(PATH).status_code == 401


def test_the_list_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"][PATH]["get"]
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"purpose", "username", "address", "since", "until", "page", "per_page"} <= names
    item = spec["components"]["schemas"]["AuthFailure"]["properties"]
    assert set(item) == {"id", "at", "purpose", "reason", "username", "account", "address"}


# --- two app processes, one PostgreSQL: the limit holds across them ---------------------------


def _app_process(config: dict[str, Any], requests, answers) -> None:
    """One app instance in a process of its own (its own engine, pools and limiter memory):
    answers each (body, address) it is sent with the status and body of a token request."""
    from biobank import create_app

    app = create_app(config)
    client = app.test_client()
    answers.send("ready")
    while (asked := requests.recv()) is not None:
        body, address = asked
        response = client.post(
            "/api/v1/auth/tokens", json=body, environ_base={"REMOTE_ADDR": address}
        )
        answers.send((response.status_code, response.get_json(), dict(response.headers)))
    with app.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_the_eleventh_wrong_password_in_a_minute_is_refused_whichever_process_gets_it(
    app, database_url, collector
):
    """Two app processes take turns at one user's wrong passwords: each sees only half of
    them, so its own memory (flask-limiter's, at its default of 10 a minute) refuses none;
    the count in the database refuses the 11th, and the 12th at the other process too."""
    config = {
        **base_config(database_url),
        "BIOBANK_LOGIN_LIMIT": "10 per minute",  # the default, counted in each process
        "BIOBANK_LOGIN_MAX_FAILURES": 10,
        "BIOBANK_LOGIN_WINDOW_MINUTES": 1,
        "BIOBANK_LOGIN_LOCK_MINUTES": 15,
    }
    spawn = multiprocessing.get_context("spawn")
    instances = []
    try:
        for _ in range(2):
            to_child, from_parent = spawn.Pipe()
            to_parent, from_child = spawn.Pipe()
            process = spawn.Process(target=_app_process, args=(config, from_parent, to_parent))
            process.start()
            instances.append((process, to_child, from_child))
        for _, _, answers in instances:
            assert answers.poll(120) and answers.recv() == "ready"

        def attempt(number: int, password: str = GUESS):
            _, requests, answers = instances[number % 2]
            address = f"192.0.2.{number % 2 + 1}"
            requests.send(({"username": "collector", "password": password}, address))
            assert answers.poll(60), f"instance {number % 2} did not answer"
            return answers.recv()

        started = datetime.now(UTC)
        answers = [attempt(number) for number in range(11)]
        assert datetime.now(UTC) - started < timedelta(minutes=1)
        statuses = [status for status, _, _ in answers]
        assert statuses == [401] * 10 + [429], statuses
        status, problem, headers = answers[10]  # at the first process, as the 1st, 3rd …
        assert problem["type"] == "urn:biobank:problem:too-many-attempts"
        assert "signing in is locked for your account" in problem["detail"]
        assert 14 * 60 < int(headers["Retry-After"]) <= 15 * 60

        db.session.rollback()
        rows = db.session.scalars(sa.select(AuthFailure).order_by(AuthFailure.id)).all()
        assert len(rows) == 11
        assert [row.reason for row in rows] == ["wrong_password"] * 10 + ["locked_out"]
        assert {row.user_id for row in rows} == {collector.id}
        assert [row.address for row in rows] == [f"192.0.2.{n % 2 + 1}" for n in range(11)]

        # The other process refuses too, even the right password.
        status, problem, _ = attempt(11, PASSWORD)
        assert status == 429 and "signing in is locked" in problem["detail"]
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthFailure)) == 12
    finally:
        for process, requests, _ in instances:
            if process.is_alive():
                requests.send(None)
                process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(10)
    assert all(process.exitcode == 0 for process, _, _ in instances)
