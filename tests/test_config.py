from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from biobank.config import ConfigError, load_config
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


def test_the_postgresql_pool_is_sized_to_the_servers_threads(monkeypatch):
    for name in ("BIOBANK_THREADS", "BIOBANK_DATABASE_POOL_SIZE", "BIOBANK_DATABASE_MAX_OVERFLOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIOBANK_DATABASE_URL", "postgresql://app@db/biobank")
    options = load_config("/tmp")["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"]) == (5, 4)  # 4 threads + sequencer
    monkeypatch.setenv("BIOBANK_THREADS", "8")  # as gunicorn.conf.py passes it
    assert load_config("/tmp")["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 9
    monkeypatch.setenv("BIOBANK_DATABASE_POOL_SIZE", "20")
    monkeypatch.setenv("BIOBANK_DATABASE_MAX_OVERFLOW", "0")
    options = load_config("/tmp")["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"]) == (20, 0)
    monkeypatch.setenv("BIOBANK_THREADS", "none")
    with pytest.raises(ConfigError, match="BIOBANK_THREADS"):
        load_config("/tmp")


def test_the_gunicorn_config_passes_its_threads_to_the_app(monkeypatch):
    import runpy
    from pathlib import Path

    monkeypatch.setenv("BIOBANK_THREADS", "6")
    monkeypatch.delenv("BIOBANK_ACCESS_LOG", raising=False)
    settings = runpy.run_path(str(Path(__file__).parents[1] / "gunicorn.conf.py"))
    assert settings["threads"] == 6 and settings["worker_class"] == "gthread"
    assert "BIOBANK_THREADS=6" in settings["raw_env"]
    assert settings["preload_app"] is False  # the sequencer thread starts in each worker
    assert settings["accesslog"] == "-"
    monkeypatch.setenv("BIOBANK_ACCESS_LOG", "")
    assert runpy.run_path(str(Path(__file__).parents[1] / "gunicorn.conf.py"))["accesslog"] is None


def test_the_gunicorn_config_runs_a_worker_per_core_up_to_four(monkeypatch):
    import runpy
    from pathlib import Path

    path = str(Path(__file__).parents[1] / "gunicorn.conf.py")
    monkeypatch.delenv("BIOBANK_WORKERS", raising=False)
    for cores, workers in ((1, 1), (2, 2), (4, 4), (16, 4)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert runpy.run_path(path)["workers"] == workers
    monkeypatch.setenv("BIOBANK_WORKERS", "7")
    assert runpy.run_path(path)["workers"] == 7
