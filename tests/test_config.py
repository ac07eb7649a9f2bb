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
