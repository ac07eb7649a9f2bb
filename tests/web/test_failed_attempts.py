"""The admins' page of failed sign-ins and e-signatures: filters, pages, CSV, and nobody else."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from biobank.extensions import db
from biobank.models import AuthFailure, AuthFailureReason, ThrottlePurpose
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, csrf_token_from

PAGE = "/admin/failed-attempts"
GUESS = "guessed-password-77"


def _failed_login(client, username: str, password: str = GUESS, address: str = "192.0.2.10"):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code in (401, 429), response.status_code
    return response


def test_a_failed_web_sign_in_shows_on_the_admins_page(app, admin, collector, login):
    _failed_login(app.test_client(), "collector")
    _failed_login(app.test_client(), "no.such.person", address="198.51.100.20")
    html = login(admin).get(PAGE).get_data(as_text=True)
    assert "<h1>Failed sign-ins and signatures</h1>" in html
    assert "Failed attempts (2)" in html
    assert "<code>no.such.person</code>" in html and "unknown username" in html
    assert "<code>collector</code>" in html and "wrong password" in html
    assert "192.0.2.10" in html and "198.51.100.20" in html
    assert GUESS not in html
    # Newest first.
    assert html.index("no.such.person") < html.index("<code>collector</code>")


def test_the_page_is_linked_from_the_admins_navigation_and_home(admin, login):
    html = login(admin).get("/").get_data(as_text=True)
    assert html.count(f'href="{PAGE}"') >= 2  # the navigation and the users list


@pytest.fixture
def many(app, collector):
    """60 failures a minute apart on 2026-03-01 (UTC) from two addresses, and one signature."""
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with unit_of_work():
        for minute in range(60):
            db.session.add(
                AuthFailure(
                    at=start + timedelta(minutes=minute),
                    purpose=ThrottlePurpose.LOGIN,
                    reason=AuthFailureReason.UNKNOWN_USER,
                    username=f"guess.{minute:02d}",
                    address="192.0.2.1" if minute % 2 else "192.0.2.2",
                )
            )
        db.session.add(
            AuthFailure(
                at=start + timedelta(days=3),
                purpose=ThrottlePurpose.SIGNATURE,
                reason=AuthFailureReason.WRONG_PASSWORD,
                username="collector",
                user_id=collector.id,
                address="=HYPERLINK(1)",
            )
        )


def test_failures_are_paginated_newest_first(admin, login, many):
    client = login(admin)
    first = client.get(PAGE).get_data(as_text=True)
    assert "Failed attempts (61)" in first
    assert "Page 1 of 2 (61 failed attempts)" in first
    assert first.index("<code>collector</code>") < first.index("guess.59") < first.index("guess.11")
    assert "guess.10" not in first
    second = client.get(PAGE + "?page=2").get_data(as_text=True)
    assert "guess.10" in second and "guess.00" in second and "guess.59" not in second


def test_a_long_list_counts_a_little_past_the_page_and_says_so(admin, login, many, monkeypatch):
    from biobank.services.core import pages

    monkeypatch.setattr(pages, "COUNTED_PAST_THE_PAGE", 10)
    client = login(admin)
    first = client.get(PAGE).get_data(as_text=True)
    # 50 a page: counted to 60 of the 61, so the total is a lower bound and Next is offered.
    assert "Failed attempts (60+)" in first
    assert "Page 1 of 2 or more (60+ failed attempts)" in first
    assert 'rel="next"' in first
    second = client.get(PAGE + "?page=2").get_data(as_text=True)
    assert "Page 2 of 2 (61 failed attempts)" in second and 'rel="next"' not in second


def test_filters_narrow_the_list(admin, login, many):
    client = login(admin)

    def shown(query: str) -> str:
        response = client.get(f"{PAGE}?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data(as_text=True)

    assert "Failed attempts (1)" in shown("purpose=signature")
    assert "Failed attempts (60)" in shown("purpose=login")
    assert "Failed attempts (1)" in shown("username=GUESS.07")
    assert "Failed attempts (30)" in shown("address=192.0.2.1")
    # Days in the admin's site zone (America/Chicago), both included: 2026-03-01 there is
    # 06:00 UTC on the 1st to 06:00 UTC on the 2nd, so the sixty are in and the signature out.
    assert "Failed attempts (60)" in shown("since=2026-03-01&until=2026-03-01")
    assert "Failed attempts (1)" in shown("since=2026-03-02")
    assert "Failed attempts (0)" in shown("until=2026-02-28")
    assert "No failed attempt matches these filters" in shown("until=2026-02-28")


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("purpose=everything", "purpose", "Choose sign-ins, e-signatures, or both."),
        ("since=1999-12-31", "since", "Give a date from 2000-01-01 on"),
        ("since=2026-03-02&until=2026-03-01", "until", "before the From date"),
        ("since=yesterday", "since", "Not a valid date value."),
    ],
)
def test_bad_filters_are_a_422_beside_the_field(admin, login, query, field, message):
    response = login(admin).get(f"{PAGE}?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="filter-{field}-error"' in html and message in html


def test_the_csv_holds_the_filtered_list_safe_for_spreadsheets(admin, login, many):
    client = login(admin)
    page = client.get(f"{PAGE}?purpose=signature").get_data(as_text=True)
    assert 'href="/admin/failed-attempts.csv?purpose=signature"' in page
    response = client.get("/admin/failed-attempts.csv?purpose=signature")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["at_utc", "purpose", "reason", "username", "account", "address"],
        [
            "2026-03-04T12:00:00+00:00",
            "e-signature",
            "wrong password",
            "collector",
            "collector",
            "'=HYPERLINK(1)",  # the project's one CSV writer: no formula runs
        ],
    ]
    everything = client.get("/admin/failed-attempts.csv").get_data(as_text=True)
    assert len(everything.splitlines()) == 62
    for query in ("since=2026-13-01", "since=2026-03-02&until=2026-03-01"):
        assert client.get(f"/admin/failed-attempts.csv?{query}").status_code == 422


@pytest.mark.parametrize("role", ["collector", "technician", "coordinator"])
def test_other_roles_get_the_403_page(request, login, role):
    client = login(request.getfixturevalue(role))
    for path in (PAGE, PAGE + ".csv"):
        response = client.get(path)
        assert response.status_code == 403
        assert "may not read the failed sign-ins and signatures" in response.get_data(as_text=True)
    assert f'href="{PAGE}"' not in client.get("/").get_data(as_text=True)


def test_signing_in_is_needed(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_right_password_after_failures_leaves_them_listed(app, admin, collector, login):
    other = app.test_client()
    _failed_login(other, "collector")
    token = csrf_token_from(other.get("/login").get_data(as_text=True))
    signed_in = other.post(
        "/login", data={"username": "collector", "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    assert "Failed attempts (1)" in login(admin).get(PAGE).get_data(as_text=True)


@pytest.mark.parametrize("query", ["username=a%00b", "address=10.0%00.0.1"])
def test_a_nul_in_a_filter_is_a_sentence_not_a_server_error(admin, login, query):
    client = login(admin)
    page = client.get(f"/admin/failed-attempts?{query}")
    assert page.status_code == 422
    assert "Remove the NUL character" in page.get_data(as_text=True)
    assert client.get(f"/admin/failed-attempts.csv?{query}").status_code == 422
