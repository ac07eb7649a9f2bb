"""SPREC codes for worked examples: tubes collected, spun, shipped, received, stored and
aliquoted through the services, each with its full code and why; then the rules element by
element at their edges, on tubes built in memory.

Reading a code (SPREC v3.0, fluids): type of sample - primary container - pre-centrifugation
- centrifugation - second centrifugation - post-centrifugation - long-term storage. The code
tables are at the top of biobank/services/reporting/sprec.py.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from biobank.db import utcnow
from biobank.models import (
    Centrifuge,
    Container,
    ContainerKind,
    Sample,
    Specimen,
    StoragePosition,
    TemperatureClass,
    TubeType,
)
from biobank.services.collecting import collections
from biobank.services.reporting.interop import SPREC_EXTENSION
from biobank.services.reporting.sprec import describe, sprec, tube_family
from biobank.services.shipping import receiving, sending
from biobank.services.storage import lifecycle, placing
from biobank.unit_of_work import unit_of_work
from tests.conftest import PASSWORD

# --- building tubes through the services -------------------------------------------------------


@pytest.fixture
def collect_and_ship(start_collection, technician):
    """Tubes drawn ``drawn_ago`` before now, SST / PST spun ``spun_after`` the draw, finalized,
    shipped refrigerated and scanned in at the biobank now (not yet stored)."""

    def make(
        collector,
        *,
        drawn_ago: timedelta,
        spun_after: timedelta = timedelta(minutes=40),
        tube_types: list[str] | None = None,
        participant_id: str = "P123456789",
    ) -> dict[str, Sample]:
        kit = {"tube_types": tube_types} if tube_types else {}
        collection = start_collection(collector, participant_id, **kit)
        drawn = utcnow() - drawn_ago
        with unit_of_work():
            for tube in collection.samples:
                collections.record_collected(collector, collection, tube.barcode, drawn)
                if tube.tube_type.requires_processing:
                    collections.record_processed(
                        collector,
                        collection,
                        tube.barcode,
                        drawn + spun_after,
                        # the rotor is recorded (and moves the code to 2SST8 / 2PST8), but
                        # SPREC's centrifugation codes cannot say it: element 4 stays X
                        centrifuge=Centrifuge.SWINGING_BUCKET
                        if tube.tube_type.code.endswith("SST8")
                        else Centrifuge.FIXED_ANGLE,
                    )
            collections.finalize_collection(
                collector, collection, at=drawn + spun_after + timedelta(minutes=10)
            )
            shipment = sending.open_shipment(
                collector, destination="MAYO-BB", temperature="refrigerated"
            )
            for tube in collection.samples:
                sending.pack_sample(collector, shipment, tube.barcode)
            sending.dispatch_shipment(
                collector,
                shipment,
                carrier="fedex",
                tracking_number="123456789012",
                signature_password=PASSWORD,
            )
        with unit_of_work():
            for tube in collection.samples:
                receiving.receive_scan(technician, shipment, tube.barcode)
            receiving.close_receipt(
                technician, shipment, condition="good", signature_password=PASSWORD
            )
        return {tube.tube_type.code: tube for tube in collection.samples}

    return make


def store(technician, box, *tubes: Sample) -> None:
    with unit_of_work():
        for tube in tubes:
            placing.store_sample(technician, box, tube.barcode)


# --- worked examples ---------------------------------------------------------------------------


def test_the_baseline_kit_drawn_yesterday_and_frozen_today(
    collector, technician, boxes, collect_and_ship
):
    # Drawn at 14:00 yesterday, SST / PST spun at 14:40, shipped refrigerated overnight,
    # received and stored in Freezer 1 (-80 °C) 20 h after the draw (10:00 today).
    tubes = collect_and_ship(collector, drawn_ago=timedelta(hours=20))
    store(technician, boxes[0], *tubes.values())
    assert {code: sprec(tube) for code, tube in tubes.items()} == {
        # serum, SST; spun 40 min after the draw on the bench (RT < 2 h: A); spin settings not
        # recorded (X); one spin (N); spun → frozen 19 h 20 min, travelling at 2-10 °C
        # (8-24 h: G); frozen in its own tube at -80 °C (original primary container: Y)
        "1SST8": "SER-SST-A-X-N-G-Y",
        # single-spun plasma in lithium heparin + gel (LHG), spun in a fixed-angle rotor;
        # otherwise as the SST
        "2PST8": "PL1-LHG-A-X-N-G-Y",
        # whole blood is never spun: the pre-centrifugation delay runs from the draw to
        # freezing, 20 h at 2-10 °C (12-24 h refrigerated: J); no centrifugation (N), no
        # second (N), post-centrifugation not applicable (N); own tube at -80 °C (Y)
        "1HEP4": "BLD-SHP-J-N-N-N-Y",  # sodium heparin
        "1ED04": "BLD-PED-J-N-N-N-Y",  # potassium EDTA
        "1ED10": "BLD-PED-J-N-N-N-Y",
        "1CFD9": "BLD-SCK-J-N-N-N-Y",  # cell-free DNA stabilizer (non-aldehyde)
        "1PXR2": "BLD-PAX-J-N-N-N-Y",  # PAXgene Blood RNA (SPREC's PXR is bone marrow)
        # random urine, container material not recorded (XXX); never spun, as whole blood
        "1UR10": "URN-XXX-J-N-N-N-Y",
    }


def test_two_days_on_the_road_and_a_late_spin(collector, technician, boxes, collect_and_ship):
    # Drawn 50 h before storage, spun 2 h 30 min after the draw.
    tubes = collect_and_ship(
        collector,
        drawn_ago=timedelta(hours=50),
        spun_after=timedelta(hours=2, minutes=30),
        tube_types=["1SST8", "1ED10"],
    )
    store(technician, boxes[0], *tubes.values())
    # SST: spun after 2.5 h at RT (2-4 h: C); spun → frozen 47.5 h at 2-10 °C (> 24 h: I)
    assert sprec(tubes["1SST8"]) == "SER-SST-C-X-N-I-Y"
    # EDTA: draw → frozen 50 h at 2-10 °C (> 48 h refrigerated: N, here a delay code, not
    # "not applicable", which element 3 does not have)
    assert sprec(tubes["1ED10"]) == "BLD-PED-N-N-N-N-Y"


def test_a_received_tube_not_yet_stored_has_no_storage_and_no_end_to_its_delays(
    collector, collect_and_ship
):
    tubes = collect_and_ship(
        collector, drawn_ago=timedelta(hours=20), tube_types=["1SST8", "1ED10", "1UR10"]
    )
    # SST: spun after 40 min (A); not frozen yet, so the post-centrifugation delay is still
    # running (X); in no box (X). Arrival is not freezing: received_at is not used.
    assert sprec(tubes["1SST8"]) == "SER-SST-A-X-N-X-X"
    # whole blood and urine: their only delay ends at freezing (X); never spun (N, N, N)
    assert sprec(tubes["1ED10"]) == "BLD-PED-X-N-N-N-X"
    assert sprec(tubes["1UR10"]) == "URN-XXX-X-N-N-N-X"


def test_saliva(collector, technician, boxes, collect_and_ship):
    tubes = collect_and_ship(collector, drawn_ago=timedelta(hours=30), tube_types=["1SAL2"])
    store(technician, boxes[0], tubes["1SAL2"])
    # saliva in an Oragene-type kit (ORG); collection → frozen 30 h at 2-10 °C (24-48 h: L)
    assert sprec(tubes["1SAL2"]) == "SAL-ORG-L-N-N-N-Y"


def test_an_aliquot_of_frozen_serum_keeps_the_first_freezing_and_has_its_own_storage(
    collector, technician, boxes, collect_and_ship
):
    tubes = collect_and_ship(collector, drawn_ago=timedelta(hours=20), tube_types=["1SST8"])
    sst = tubes["1SST8"]
    store(technician, boxes[0], sst)
    with unit_of_work():
        child = lifecycle.aliquot(technician, sst.barcode, count=1, volume_ml=1).children[0]
    # Elements 1-6 are the SST's: the serum was first frozen in the SST 19 h 20 min after the
    # spin (G). The aliquot itself is on the bench, in no box yet (X).
    assert sprec(child) == "SER-SST-A-X-N-G-X"
    store(technician, boxes[1], child)
    # Now in a 0.5-2 mL polypropylene tube at -80 °C (A); the parent is unchanged (Y).
    assert sprec(child) == "SER-SST-A-X-N-G-A"
    assert sprec(sst) == "SER-SST-A-X-N-G-Y"


def test_an_aliquot_of_serum_never_frozen_is_frozen_when_it_is_stored(
    collector, technician, boxes, collect_and_ship
):
    tubes = collect_and_ship(collector, drawn_ago=timedelta(hours=30), tube_types=["1SST8"])
    with unit_of_work():  # split at the bench on arrival, before any freezer
        child = lifecycle.aliquot(technician, tubes["1SST8"].barcode, count=1, volume_ml=2)
    aliquot = child.children[0]
    assert sprec(aliquot) == "SER-SST-A-X-N-X-X"  # not frozen anywhere yet
    store(technician, boxes[0], aliquot)
    # spun → the aliquot's own freezing: 29 h 20 min at 2-10 °C (> 24 h: I); PP tube, -80 (A)
    assert sprec(aliquot) == "SER-SST-A-X-N-I-A"


def test_the_code_is_on_the_page_in_the_export_the_api_and_fhir(
    client, login, auth_headers, collector, technician, boxes, collect_and_ship
):
    tubes = collect_and_ship(collector, drawn_ago=timedelta(hours=20), tube_types=["1SST8"])
    sst = tubes["1SST8"]
    store(technician, boxes[0], sst)
    html = login(technician).get(f"/samples/{sst.barcode}").get_data(as_text=True)
    assert '<code class="sprec"' in html and ">SER-SST-A-X-N-G-Y</code>" in html
    assert "Post-centrifugation <code>G</code>: 2-10 °C, 8-24 h" in html
    headers = auth_headers(technician)
    exported = client.get("/api/v1/exports/samples.csv", headers=headers)
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][-2:] == ["received_at", "sprec"]
    assert rows[1][-1] == "SER-SST-A-X-N-G-Y"
    listed = client.get(f"/api/v1/samples/{sst.barcode}", headers=headers).get_json()
    assert listed["sprec"] == "SER-SST-A-X-N-G-Y"
    fhir = client.get(f"/api/v1/samples/{sst.barcode}/fhir", headers=headers).get_json()
    assert {"url": SPREC_EXTENSION, "valueString": "SER-SST-A-X-N-G-Y"} in fhir["extension"]


# --- the rules at their edges, on tubes in memory ----------------------------------------------

DRAWN = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

SST = TubeType(
    code="1SST8",
    specimen=Specimen.SERUM,
    requires_processing=True,
    ship_temperature=TemperatureClass.REFRIGERATED,
)
EDTA = TubeType(
    code="1ED10",
    specimen=Specimen.WHOLE_BLOOD,
    requires_processing=False,
    ship_temperature=TemperatureClass.REFRIGERATED,
)


def in_freezer(temperature_c: Decimal | None) -> StoragePosition:
    freezer = Container(kind=ContainerKind.FREEZER, name="Freezer 1", temperature_c=temperature_c)
    shelf = Container(kind=ContainerKind.SHELF, name="Shelf 1", parent=freezer)
    box = Container(kind=ContainerKind.BOX, name="Box 1", parent=shelf, rows=9, cols=9)
    return StoragePosition(box=box, row=1, col=1)


def tube(
    tube_type: TubeType = SST,
    *,
    spun: timedelta | None = timedelta(minutes=40),
    frozen: timedelta | None = timedelta(hours=20),
    freezer_c: Decimal | None = Decimal(-80),
    parent: Sample | None = None,
    made: timedelta | None = None,
) -> Sample:
    """A tube drawn at DRAWN, spun ``spun`` and frozen ``frozen`` after the draw (None: not
    recorded / not yet), in a freezer at ``freezer_c`` (None: in no box)."""
    sample = Sample(
        tube_type=tube_type,
        collected_at=DRAWN,
        processed_at=DRAWN + spun if spun is not None and tube_type.requires_processing else None,
        stored_at=DRAWN + frozen if frozen is not None else None,
        parent=parent,
        received_at=DRAWN + made if made is not None else None,
    )
    if freezer_c is not None and frozen is not None:
        sample.position = in_freezer(freezer_c)
    return sample


def element(sample: Sample, number: int) -> str:
    return sprec(sample).split("-")[number - 1]


@pytest.mark.parametrize(
    ("spun", "code"),
    [
        (timedelta(hours=2) - timedelta(seconds=1), "A"),  # RT < 2 h
        (timedelta(hours=2), "C"),  # exactly 2 h is "2-4 h"
        (timedelta(hours=4), "E"),  # RT 4-8 h
        (timedelta(hours=8), "G"),  # RT 8-12 h
        (timedelta(hours=12), "I"),  # RT 12-24 h
        (timedelta(hours=24), "K"),  # RT 24-48 h
        (timedelta(hours=48), "M"),  # RT > 48 h
    ],
)
def test_pre_centrifugation_of_a_spun_tube_is_the_draw_to_the_spin_at_room_temperature(spun, code):
    assert element(tube(spun=spun, frozen=spun + timedelta(hours=1)), 3) == code


@pytest.mark.parametrize(
    ("frozen", "code"),
    [
        (timedelta(hours=1), "B"),  # 2-10 °C < 2 h
        (timedelta(hours=2), "D"),  # 2-10 °C 2-4 h
        (timedelta(hours=4), "F"),
        (timedelta(hours=8), "H"),
        (timedelta(hours=12), "J"),
        (timedelta(hours=24), "L"),
        (timedelta(hours=48), "N"),  # 2-10 °C > 48 h (N is a delay code in element 3)
    ],
)
def test_pre_centrifugation_of_an_unspun_tube_is_the_draw_to_freezing_refrigerated(frozen, code):
    assert element(tube(EDTA, frozen=frozen), 3) == code


@pytest.mark.parametrize(
    ("after_spin", "code"),
    [
        (timedelta(minutes=59), "A"),  # 2-10 °C < 1 h
        (timedelta(hours=1), "C"),  # 2-10 °C 1-2 h
        (timedelta(hours=2), "E"),  # 2-10 °C 2-8 h
        (timedelta(hours=8), "G"),  # 2-10 °C 8-24 h
        (timedelta(hours=24) - timedelta(seconds=1), "G"),
        (timedelta(hours=24), "I"),  # 2-10 °C > 24 h
    ],
)
def test_post_centrifugation_is_the_spin_to_freezing_at_the_shipping_temperature(after_spin, code):
    spun = timedelta(minutes=40)
    assert element(tube(spun=spun, frozen=spun + after_spin), 6) == code


def test_a_tube_shipped_at_room_temperature_uses_the_room_temperature_codes():
    ambient_sst = TubeType(
        code="1SST8",
        specimen=Specimen.SERUM,
        requires_processing=True,
        ship_temperature=TemperatureClass.AMBIENT,
    )
    ambient_edta = TubeType(
        code="1ED10",
        specimen=Specimen.WHOLE_BLOOD,
        requires_processing=False,
        ship_temperature=TemperatureClass.AMBIENT,
    )
    # spun after 40 min (A), frozen 30 min after the spin at RT (< 1 h: B)
    assert sprec(tube(ambient_sst, frozen=timedelta(minutes=70))) == "SER-SST-A-X-N-B-Y"
    # draw → frozen 3 h at RT (2-4 h: C)
    assert sprec(tube(ambient_edta, frozen=timedelta(hours=3))) == "BLD-PED-C-N-N-N-Y"


def test_a_tube_shipped_frozen_was_frozen_at_a_time_not_recorded():
    frozen_edta = TubeType(
        code="1ED10",
        specimen=Specimen.WHOLE_BLOOD,
        requires_processing=False,
        ship_temperature=TemperatureClass.FROZEN,
    )
    assert sprec(tube(frozen_edta)) == "BLD-PED-X-N-N-N-Y"


def test_an_unknown_spin_time_is_x_wherever_it_counts():
    # An SST that should have been spun but has no processed time (legacy or imported data:
    # the clinic flow refuses to finalize without it): pre-centrifugation, centrifugation and
    # post-centrifugation unknown (X); its storage is still known (Y).
    assert sprec(tube(spun=None)) == "SER-SST-X-X-N-X-Y"


def test_an_unknown_draw_time_leaves_only_the_pre_centrifugation_unknown():
    sst, edta = tube(), tube(EDTA)
    sst.collected_at = edta.collected_at = None
    assert sprec(sst) == "SER-SST-X-X-N-G-Y"
    assert sprec(edta) == "BLD-PED-X-N-N-N-Y"


def test_times_out_of_order_are_unknown_not_negative():
    assert element(tube(spun=timedelta(hours=5), frozen=timedelta(hours=1)), 6) == "X"


@pytest.mark.parametrize(
    ("temperature_c", "primary", "aliquot"),
    [
        (Decimal(-80), "Y", "A"),  # -85 to -60 °C
        (Decimal(-60), "Y", "A"),  # both ends included
        (Decimal(-85), "Y", "A"),
        (Decimal("-85.5"), "Z", "Z"),  # colder than -85, warmer than -135: no range
        (Decimal(-50), "Z", "Z"),  # between -60 and -35: no range
        (Decimal(-20), "Y", "B"),  # -35 to -18 °C
        (Decimal(-18), "Y", "B"),
        (Decimal(-4), "Z", "Z"),
        (Decimal(-135), "Z", "Z"),  # "< -135 °C" is strictly below
        (Decimal(-150), "Z", "V"),  # PP tube < -135 °C; no code for a primary tube there
    ],
)
def test_long_term_storage_is_the_kind_of_tube_at_the_freezer_temperature(
    temperature_c, primary, aliquot
):
    parent = tube(freezer_c=temperature_c)
    child = tube(freezer_c=temperature_c, parent=parent, made=timedelta(hours=21))
    assert (element(parent, 7), element(child, 7)) == (primary, aliquot)


def test_no_box_or_no_set_temperature_is_unknown_storage():
    assert element(tube(frozen=None), 7) == "X"
    assert element(tube(freezer_c=None), 7) == "X"  # stored, then left its box (e.g. consumed)
    no_temperature = tube()
    no_temperature.position = in_freezer(None)
    assert element(no_temperature, 7) == "X"


def test_an_aliquot_inherits_the_first_freezing_only_if_it_came_before_the_aliquot():
    parent = tube(frozen=timedelta(hours=20))
    # made after the parent was frozen (thawed at the bench): frozen at 20 h, 19 h 20 min
    # after the spin (G), whenever the aliquot itself was stored
    later = tube(parent=parent, made=timedelta(hours=30), frozen=timedelta(hours=31))
    assert element(later, 6) == "G"
    # made before the parent went into a freezer: frozen with its own storage, 29 h 20 min
    # after the spin (I)
    earlier = tube(parent=parent, made=timedelta(hours=2), frozen=timedelta(hours=30))
    assert element(earlier, 6) == "I"
    # an aliquot of an aliquot of a frozen tube: still the first freezing
    grandchild = tube(parent=later, made=timedelta(hours=40), frozen=timedelta(hours=41))
    assert element(grandchild, 6) == "G"


def test_unknown_tube_families_and_specimens():
    odd = TubeType(
        code="1XYZ5",
        specimen=Specimen.DNA,
        requires_processing=False,
        ship_temperature=TemperatureClass.REFRIGERATED,
    )
    # no fluid sample code for extracted DNA (ZZZ other); container unknown (XXX)
    assert sprec(tube(odd)) == "ZZZ-XXX-J-N-N-N-Y"


@pytest.mark.parametrize(
    ("code", "family"),
    [("1SST8", "SST"), ("2PST8", "PST"), ("2ED10", "ED"), ("1UR90", "UR"), ("1SAL2", "SAL")],
)
def test_tube_family(code, family):
    assert tube_family(code) == family


def test_each_element_says_what_it_means():
    described = describe(tube())
    assert described.code == "SER-SST-A-X-N-G-Y"
    assert [(e.name, e.code, e.meaning) for e in described.elements] == [
        ("type of sample", "SER", "serum"),
        ("primary container", "SST", "serum separator tube with clot activator"),
        ("pre-centrifugation", "A", "room temperature, under 2 h"),
        ("centrifugation", "X", "speed, temperature, duration and braking not recorded"),
        ("second centrifugation", "N", "no second centrifugation"),
        ("post-centrifugation", "G", "2-10 °C, 8-24 h"),
        ("long-term storage", "Y", "original primary container, -85 to -60 °C"),
    ]
