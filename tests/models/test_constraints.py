"""The database itself refuses corrupt data, whatever a buggy service might try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from biobank.extensions import db
from biobank.models import Sample, SampleStatus, StoragePosition
from tests.factories import raw_box, raw_sample


def test_datetimes_come_back_aware_utc_whatever_zone_went_in(biobank_site):
    sample = raw_sample(biobank_site)
    chicago_noon = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    sample.collected_at = chicago_noon
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Sample, sample.id).collected_at
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 7, 1, 17, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(biobank_site):
    sample = raw_sample(biobank_site)
    sample.collected_at = datetime(2026, 7, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.flush()
    db.session.rollback()


def test_barcodes_are_unique(biobank_site):
    first = raw_sample(biobank_site)
    db.session.commit()
    duplicate = Sample(
        barcode=first.barcode,
        tube_type_id=first.tube_type_id,
        site_id=biobank_site.id,
        custody_site_id=biobank_site.id,
    )
    db.session.add(duplicate)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_position_holds_one_sample(biobank_site):
    box = raw_box(biobank_site)
    first, second = raw_sample(biobank_site), raw_sample(biobank_site)
    db.session.add(StoragePosition(box_id=box.id, row=1, col=1, sample_id=first.id))
    db.session.commit()
    db.session.add(StoragePosition(box_id=box.id, row=1, col=1, sample_id=second.id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_sample_sits_in_one_position(biobank_site):
    box = raw_box(biobank_site)
    sample = raw_sample(biobank_site)
    db.session.add(StoragePosition(box_id=box.id, row=1, col=1, sample_id=sample.id))
    db.session.commit()
    db.session.add(StoragePosition(box_id=box.id, row=1, col=2, sample_id=sample.id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_statuses_are_checked_by_the_database(biobank_site):
    sample = raw_sample(biobank_site)
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(
            sa.text("UPDATE samples SET status = 'teleported' WHERE id = :id"), {"id": sample.id}
        )
    db.session.rollback()
    assert db.session.get(Sample, sample.id).status == SampleStatus.RECEIVED


def test_processed_before_collected_is_refused_by_the_database(biobank_site):
    sample = raw_sample(biobank_site)
    sample.collected_at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    sample.processed_at = datetime(2026, 7, 1, 11, 0, tzinfo=UTC)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_foreign_keys_are_enforced(biobank_site):
    with pytest.raises(IntegrityError):
        db.session.execute(
            sa.text(
                "INSERT INTO samples (barcode, tube_type_id, site_id, custody_site_id, status, "
                "freeze_thaw_count, created_at) VALUES ('X000000001', 9999, :site, :site, "
                "'pending', 0, CURRENT_TIMESTAMP)"
            ),
            {"site": biobank_site.id},
        )
    db.session.rollback()
