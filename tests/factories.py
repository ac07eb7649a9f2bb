"""Low-level builders for model tests that need rows the services do not make yet.

Workflow tests build data through the services; these exist for tests of the database's own
guarantees (constraints), which must be provable without any service in the way.
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from biobank.extensions import db
from biobank.models import Container, ContainerKind, Sample, SampleStatus, Site, TubeType

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
