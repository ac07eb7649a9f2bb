from __future__ import annotations

import pytest

from biobank import create_app
from biobank.config import ConfigError
from tests.conftest import base_config


@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/no/such/page"])
def test_every_answer_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_the_api_docs_allow_inline_styles_but_never_inline_script(client):
    policy = client.get("/api/v1/docs").headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy


def test_no_page_has_inline_script_or_event_handlers():
    import re
    from pathlib import Path

    templates = sorted((Path(__file__).resolve().parents[2] / "templates").rglob("*.html"))
    assert len(templates) > 20, "the templates were not found"
    for template in templates:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert 'style="' not in text, template


def test_pages_for_logged_in_users_are_not_cached(collector, login):
    response = login(collector).get("/")
    assert response.headers["Cache-Control"] == "no-store"


def test_production_cookies_are_secure_and_hsts_is_sent(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBANK_SECRET_KEY", "a-long-random-production-secret-for-the-test")
    app = create_app(
        {**base_config(f"sqlite:///{tmp_path / 'p.sqlite3'}"), "BIOBANK_ENV": "production"}
    )
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_refuses_the_development_secret(monkeypatch, tmp_path):
    monkeypatch.delenv("BIOBANK_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="BIOBANK_SECRET_KEY"):
        create_app(
            {**base_config(f"sqlite:///{tmp_path / 'p.sqlite3'}"), "BIOBANK_ENV": "production"}
        )
