from __future__ import annotations

from biobank.extensions import db
from biobank.schemas.samples import SampleSchema
from biobank.services.core import samples
from biobank.services.storage import placing
from biobank.unit_of_work import unit_of_work
from tests.test_query_counts import counting


def test_a_stored_tube_its_flags_and_its_whole_freezer_path_come_in_one_statement(
    technician, collector, received_tubes, freezer
):
    tubes = received_tubes(collector)
    with unit_of_work():
        placing.store_many(technician, freezer, [tubes[0].barcode])
    barcode = tubes[0].barcode
    db.session.expire_all()  # nothing the set-up loaded answers from memory
    assert technician.site_id  # the asker, as a request has them before the look-up
    with counting() as seen:
        answer = SampleSchema().dump(samples.get_sample(technician, barcode))
    assert answer["location"]["path"] == ["Freezer 1", "Shelf 1", "Box 1"]
    assert answer["custody_site"] == technician.site.code
    assert len(seen) == 1
