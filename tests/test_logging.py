"""Logs carry a request id and never a password, a token, a cookie or a stack trace."""

from __future__ import annotations

import logging

from tests.conftest import PASSWORD, csrf_token_from


def test_nothing_secret_reaches_a_log_line(app, client, collector, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("biobank").propagate = True  # let caplog see what the app logs
    try:
        wrong = "wrong-password-for-the-log-test"
        client.post("/api/v1/auth/tokens", json={"username": "collector", "password": wrong})
        issued = client.post(
            "/api/v1/auth/tokens", json={"username": "collector", "password": PASSWORD}
        ).get_json()
        token = issued["token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.get("/api/v1/auth/me", headers=headers)
        client.get("/api/v1/sites", headers={"Authorization": "Bearer bbk_not-a-real-token"})
        page = client.get("/login")
        client.post(
            "/login",
            data={
                "username": "collector",
                "password": wrong,
                "csrf_token": csrf_token_from(page.get_data(as_text=True)),
            },
        )
        from biobank.services.core import catalogue

        original = catalogue.list_kits
        catalogue.list_kits = lambda *a, **k: 1 / 0
        try:
            failed = client.get("/api/v1/kits", headers=headers)
        finally:
            catalogue.list_kits = original
    finally:
        logging.getLogger("biobank").propagate = False
    text = "\n".join(
        record.getMessage() + (str(record.exc_info) if record.exc_info else "")
        for record in caplog.records
    )
    assert failed.status_code == 500
    assert "ZeroDivisionError" in text  # the error was logged …
    # pytest can hand the same record over twice (root and app handlers): count records once
    errors = list({id(r): r for r in caplog.records if r.levelno >= logging.ERROR}.values())
    assert [r.request_id for r in errors] == [failed.headers["X-Request-ID"]]  # … with its id …
    for secret in (wrong, PASSWORD, token, "bbk_not-a-real-token"):
        assert secret not in text  # … and nothing secret
    assert "Traceback" not in text
    assert not any(record.exc_info for record in caplog.records)
