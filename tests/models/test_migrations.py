from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from biobank.extensions import db
from tests.conftest import ON_POSTGRES


def test_migrations_at_head_match_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_database_is_at_the_single_head_revision(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    migrate: Migrate = app.extensions["migrate"]
    config = migrate.migrate.get_config(migrate.directory)
    heads = ScriptDirectory.from_config(config).get_heads()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    assert len(heads) == 1
    assert tuple(current) == tuple(heads)


@pytest.mark.skipif(ON_POSTGRES, reason="an old-revision database of its own: a SQLite file")
def test_upgrading_keeps_recorded_data(tmp_path):
    """Stop at the first revision, record real custody data, upgrade to head: nothing lost,
    the chain still verifies, and the events are still append-only."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from biobank import create_app
    from biobank.db import unit_of_work
    from biobank.models import Event, EventType, Site
    from biobank.services.custody import record_event, verify_chain
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'old.sqlite3'}"))
    with app.app_context():
        upgrade(revision="52c5cd4c8b32")  # the initial schema
        with unit_of_work():
            site = Site(code="OLD-01", name="Old site", kind="collection", timezone="UTC")
            db.session.add(site)
            db.session.flush()
            for _ in range(3):
                record_event(
                    EventType.CONTAINER_CHANGED,
                    actor=None,
                    site=site,
                    details={"before": "upgrade"},
                )
        upgrade()  # to head
        db.session.remove()
        assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 3
        assert db.session.scalar(sa.select(Site.code)) == "OLD-01"
        assert verify_chain().intact
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text("DELETE FROM events"))
        db.session.rollback()
        db.engine.dispose()
