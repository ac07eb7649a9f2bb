"""Low-level builders for model tests that need rows the services do not make yet.

Workflow tests build data through the services; these exist for tests of the database's own
guarantees (constraints), which must be provable without any service in the way.
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Container, ContainerKind, Sample, SampleStatus, Site, TubeType
from tests.conftest import ON_POSTGRES

_barcodes = itertools.count(1)


def raw_sample(site: Site, status: SampleStatus = SampleStatus.RECEIVED, code: str = "1ED04"):
    tube_type = db.session.scalar(sa.select(TubeType).where(TubeType.code == code))
    sample = Sample(
        barcode=f"T{next(_barcodes):09d}",
        tube_type=tube_type,
        site_id=site.id,
        custody_site_id=site.id,
        status=status,
    )
    db.session.add(sample)
    db.session.flush()
    return sample


def raw_box(site: Site, rows: int = 9, cols: int = 9) -> Container:
    freezer = Container(site_id=site.id, kind=ContainerKind.FREEZER, name=f"F{next(_barcodes)}")
    db.session.add(freezer)
    db.session.flush()
    box = Container(
        site_id=site.id,
        parent_id=freezer.id,
        kind=ContainerKind.BOX,
        name="Box",
        rows=rows,
        cols=cols,
    )
    db.session.add(box)
    db.session.flush()
    return box


def tamper_with_the_log(*statements: str) -> None:
    """Edit the database behind the app's back, the way someone with the database could: with
    the append-only triggers out of the way (replica role on PostgreSQL, dropped on SQLite)."""
    connection = db.session.connection()
    if ON_POSTGRES:
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    else:
        names = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).scalars()
        for name in list(names):
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
    for statement in statements:
        connection.exec_driver_sql(statement)
    db.session.commit()
