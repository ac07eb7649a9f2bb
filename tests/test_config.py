from __future__ import annotations

import pytest
import sqlalchemy as sa

from biobank.config import load_config
from biobank.extensions import db


def test_postgresql_connections_turn_jit_off_and_keep_other_connect_args():
    url = "postgresql+psycopg://u@localhost/db"
    config = load_config(
        "/tmp",
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3, "connect_args": {"connect_timeout": 5}},
        },
    )
    options = config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_size"] == 3
    assert options["connect_args"] == {"connect_timeout": 5, "options": "-c jit=off"}


def test_sqlite_connections_are_left_as_they_are():
    config = load_config("/tmp", {"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db"})
    assert "connect_args" not in config["SQLALCHEMY_ENGINE_OPTIONS"]


@pytest.mark.postgres
def test_the_app_talks_to_postgresql_without_jit(app):
    assert db.session.scalar(sa.text("SHOW jit")) == "off"


def test_the_migration_url_is_read_and_normalised_and_empty_by_default(monkeypatch):
    monkeypatch.delenv("BIOBANK_MIGRATION_DATABASE_URL", raising=False)
    assert load_config("/tmp")["BIOBANK_MIGRATION_DATABASE_URL"] == ""
    monkeypatch.setenv("BIOBANK_MIGRATION_DATABASE_URL", "postgres://owner:pw@db/biobank")
    config = load_config("/tmp")
    assert config["BIOBANK_MIGRATION_DATABASE_URL"] == "postgresql+psycopg://owner:pw@db/biobank"


def test_signature_throttle_settings_come_from_the_environment(monkeypatch):
    for setting in ("MAX_FAILURES", "WINDOW_MINUTES", "LOCK_MINUTES"):
        monkeypatch.delenv(f"BIOBANK_SIGNATURE_{setting}", raising=False)
    assert {
        key: value
        for key, value in load_config("/tmp").items()
        if key.startswith("BIOBANK_SIGNATURE_")
    } == {
        "BIOBANK_SIGNATURE_MAX_FAILURES": 5,
        "BIOBANK_SIGNATURE_WINDOW_MINUTES": 15,
        "BIOBANK_SIGNATURE_LOCK_MINUTES": 15,
    }
    monkeypatch.setenv("BIOBANK_SIGNATURE_MAX_FAILURES", "3")
    monkeypatch.setenv("BIOBANK_SIGNATURE_WINDOW_MINUTES", "60")
    monkeypatch.setenv("BIOBANK_SIGNATURE_LOCK_MINUTES", "240")
    config = load_config("/tmp")
    assert config["BIOBANK_SIGNATURE_MAX_FAILURES"] == 3
    assert config["BIOBANK_SIGNATURE_WINDOW_MINUTES"] == 60
    assert config["BIOBANK_SIGNATURE_LOCK_MINUTES"] == 240


@pytest.mark.parametrize("value", ["0", "-1", "five"])
def test_a_signature_throttle_setting_that_cannot_work_is_refused(monkeypatch, value):
    from biobank.config import ConfigError

    monkeypatch.setenv("BIOBANK_SIGNATURE_MAX_FAILURES", value)
    with pytest.raises(ConfigError, match="BIOBANK_SIGNATURE_MAX_FAILURES"):
        load_config("/tmp")
