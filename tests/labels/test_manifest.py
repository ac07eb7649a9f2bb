"""Shipment manifests, checked the way a courier, a scanner and a technician would read them."""

import dataclasses
import datetime
import random
import re
from collections import Counter

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from labels import (
    SAMPLE_ID_ALPHABET,
    LabelError,
    ManifestParty,
    ManifestSpec,
    ManifestTube,
    render_manifest,
)
from tests import decoding

CODE128 = zxingcpp.BarcodeFormat.Code128
DPI = 300
NUMBER = "MN7KQ2M9XDE"
TUBE_CODES = ("1SST8", "1PST8", "1ED10", "1UR10", "2ED10")
ORIGIN = ManifestParty(
    "UCSD-01", "UC San Diego Health", "9500 Gilman Dr\nLa Jolla, CA", "858-555-0100"
)
DESTINATION = ManifestParty("MAYO-BB", "Mayo Clinic Biobank", "Rochester, MN", "507-555-0199")


def _tubes(count: int, seed: int = 1) -> tuple[ManifestTube, ...]:
    rng = random.Random(seed)
    ids: list[str] = []
    while len(ids) < count:
        sample_id = "".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10))
        if sample_id not in ids:
            ids.append(sample_id)
    return tuple(
        ManifestTube(
            sample_id,
            TUBE_CODES[index % 3 if index % 4 else 3],
            None if index % 9 == 4 else datetime.date(2026, 11, 20),
        )
        for index, sample_id in enumerate(ids)
    )


def _spec(tubes: int | tuple[ManifestTube, ...] = 25, **changes) -> ManifestSpec:
    fields = {
        "manifest_number": NUMBER,
        "origin": ORIGIN,
        "destination": DESTINATION,
        "temperature": "frozen",
        "tubes": _tubes(tubes) if isinstance(tubes, int) else tubes,
        "responsible_person": "Dr Jane Roe",
        "responsible_phone": "+1 858 555 0123",
        "printed_at": "2026-11-24 14:05 PST",
        "status": "in_transit",
        "carrier": "FedEx",
        "tracking_number": "771234567890",
        "dry_ice_kg": 2.5,
        "dispatched_at": "2026-11-24 15:30 PST",
        "dispatched_by": "Sam Packer",
    }
    fields.update(changes)
    return ManifestSpec(**fields)


def pdf_text(pdf: bytes) -> str:
    """All text in the PDF, with pdfium's CRLF line ends made plain newlines."""
    return decoding.pdf_text(pdf).replace("\r\n", "\n")


def _page_texts(pdf: bytes) -> list[str]:
    return pdf_text(pdf).split("Shipment manifest")[1:]  # the running header opens each page


def _dark_runs(row: list[int]) -> list[int]:
    """Lengths of the alternating bar and space runs between the first and last bar."""
    dark = [value < 128 for value in row]
    first, last = dark.index(True), len(dark) - dark[::-1].index(True)
    runs, length = [], 1
    for previous, current in zip(dark[first : last - 1], dark[first + 1 : last], strict=True):
        if current == previous:
            length += 1
        else:
            runs.append(length)
            length = 1
    runs.append(length)
    return runs


def test_first_page_scans_as_the_manifest_number_and_shows_everything(rasterize, decode):
    spec = _spec(25)
    pdf = render_manifest(spec)
    pages = rasterize(pdf, DPI)
    assert pages[0].size == (2550, 3300)  # US letter at 300 dpi
    assert decode(pages[0]) == [(CODE128, NUMBER)]

    text = pdf_text(pdf)
    for expected in (
        "Shipment manifest",
        NUMBER,
        "UCSD-01",
        "UC San Diego Health",
        "MAYO-BB",
        "FedEx",
        "771234567890",
        "2026-11-24 15:30 PST",
        "Sam Packer",
        "In transit",
        "UN3373",
        "BIOLOGICAL SUBSTANCE, CATEGORY B",
        "Dr Jane Roe",
        "+1 858 555 0123",
        "Packed by (name, signature, date/time)",
        "Received by (name, signature, date/time)",
        "Package condition on arrival",
        "Temperature on arrival (°C)",
    ):
        assert expected in text, expected
    for tube in spec.tubes:
        grouped = f"{tube.sample_id[:5]}-{tube.sample_id[5:]}"
        assert re.search(rf"{grouped} {tube.tube_code} {tube.display_date}", text), grouped
    assert "—" in text  # tubes without a collection date
    for code, count in Counter(tube.tube_code for tube in spec.tubes).items():
        assert re.search(rf"^{code} {count}$", text, re.MULTILINE), (code, count)
    assert re.search(r"^Total tubes 25$", text, re.MULTILINE)
    assert "NOT YET DISPATCHED" not in text


def test_barcode_bars_are_whole_printer_dots(rasterize):
    page = rasterize(render_manifest(_spec(3)), DPI)[0]
    # A row through the bars, right half of the page only (the large number is on the left).
    row = [page.getpixel((x, 225)) for x in range(page.width // 2, page.width)]
    runs = _dark_runs(row)
    assert len(runs) > 40
    assert all(run % 3 == 0 for run in runs), runs  # 3-dot modules, no smeared edges
    assert row[-1] > 128 and row[0] > 128


def test_frozen_manifest_carries_the_dry_ice_marking():
    text = pdf_text(render_manifest(_spec(3, dry_ice_kg=4)))
    assert "UN1845 Dry ice (Carbon dioxide, solid)" in text
    assert "Class 9" in text
    assert "4.0 kg" in text
    assert "Frozen, on dry ice" in text


@pytest.mark.parametrize("temperature", ["refrigerated", "ambient"])
def test_unfrozen_manifest_has_no_dry_ice_marking(temperature):
    text = pdf_text(render_manifest(_spec(3, temperature=temperature, dry_ice_kg=None)))
    assert "UN1845" not in text
    assert "Dry ice" not in text
    assert "UN3373" in text


def test_long_manifest_spreads_over_pages_with_header_and_page_numbers(rasterize, decode):
    spec = _spec(300)
    pdf = render_manifest(spec)
    pages = rasterize(pdf, DPI)
    count = len(pages)
    assert count >= 5
    for page in pages:
        assert decode(page) == [(CODE128, NUMBER)]

    page_texts = _page_texts(pdf)
    assert len(page_texts) == count
    for number, text in enumerate(page_texts, start=1):
        assert NUMBER in text
        assert "From UCSD-01 to MAYO-BB" in text
        assert f"Page {number} of {count}" in text
        if number < count:
            assert "# Sample ID Tube code Collected Received" in text  # column headings repeat

    text = pdf_text(pdf)
    for tube in spec.tubes:
        assert text.count(f"{tube.sample_id[:5]}-{tube.sample_id[5:]}") == 1
    rows = [int(row) for row in re.findall(r"^(\d+) [0-9A-Z]{5}-[0-9A-Z]{5} ", text, re.MULTILINE)]
    assert rows == list(range(1, 301))
    assert re.search(r"^Total tubes 300$", text, re.MULTILINE)
    assert "Packed by" in page_texts[-1]


def test_open_manifest_says_not_yet_dispatched_and_may_be_empty():
    text = pdf_text(
        render_manifest(
            _spec(
                (),
                status="open",
                carrier=None,
                tracking_number=None,
                dispatched_at=None,
                dispatched_by=None,
            )
        )
    )
    assert "NOT YET DISPATCHED" in text
    assert "Tracking number not yet dispatched" in text
    assert "Dispatched at not yet dispatched" in text
    assert "Carrier —" in text
    assert "No tubes packed yet." in text
    assert re.search(r"^Total tubes 0$", text, re.MULTILINE)
    assert "Page 1 of 1" in text


def test_cancelled_manifest_is_marked_do_not_ship():
    text = pdf_text(render_manifest(_spec(2, status="cancelled")))
    assert "CANCELLED" in text
    assert "do not ship" in text


def test_missing_responsible_phone_leaves_a_blank_to_write_in():
    text = pdf_text(render_manifest(_spec(2, responsible_phone="  ")))
    assert "Phone: ____" in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dry_ice_kg": None}, r"frozen shipment travels on dry ice: give dry_ice_kg"),
        ({"dry_ice_kg": 0}, r"above 0 kg"),
        ({"dry_ice_kg": float("nan")}, r"above 0 kg"),
        ({"dry_ice_kg": True}, r"number of kilograms"),
        ({"dry_ice_kg": 0.01}, r"prints as 0\.0 kg"),
        ({"temperature": "refrigerated"}, r"only for frozen shipments.*remove it"),
        ({"tubes": ()}, r"'in_transit' must list at least one tube.*only an open manifest"),
        ({"temperature": "cold"}, r"'cold' is not a shipping temperature class.*'frozen'"),
        ({"temperature": "Frozen"}, r"not a shipping temperature class"),
        ({"status": "shipped"}, r"'shipped' is not a shipment status"),
        ({"manifest_number": ""}, r"give a non-empty number"),
        ({"manifest_number": "MN7KQ2M9XDÉ"}, r"printable ASCII"),
        ({"manifest_number": "MN\t7KQ"}, r"printable ASCII"),
        ({"manifest_number": " MN7KQ2M9XDE"}, r"surrounding spaces"),
        ({"manifest_number": "MN" + "7" * 30}, r"at most 24 characters"),
        ({"destination": ORIGIN}, r"both UCSD-01"),
        ({"responsible_person": " "}, r"Responsible person is missing"),
        ({"printed_at": ""}, r"Printed-at time is missing"),
        ({"carrier": "Fed\nEx"}, r"control character.*one line only"),
        ({"tracking_number": "7" * 61}, r"at most 60 characters"),
        ({"origin": "UCSD-01"}, r"origin must be a ManifestParty"),
        ({"tubes": ("7KQ2M9XD3E",)}, r"Tube 1 must be a ManifestTube"),
    ],
)
def test_invalid_manifest_is_refused_with_what_to_fix(changes, message):
    with pytest.raises(LabelError, match=message):
        _spec(**{"tubes": 2, **changes})


def test_a_tube_listed_twice_is_refused():
    tube = ManifestTube("7KQ2M9XD3E", "1SST8", None)
    with pytest.raises(LabelError, match=r"7KQ2M-9XD3E is listed more than once"):
        _spec((tube, tube))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("7KQ2M-9XD3E", "1SST8", None), r"Remove the hyphen"),
        (("7kq2m9xd3e", "1SST8", None), r"10 characters from 0123456789ABC"),
        (("7KQ2M9XD3E", "", None), r"give a non-empty code"),
        (("7KQ2M9XD3E", "1SST8", datetime.datetime(2026, 1, 1)), r"not a datetime"),
        (("7KQ2M9XD3E", "1SST8", "2026-01-01"), r"datetime\.date or None"),
    ],
)
def test_invalid_tube_is_refused_with_what_to_fix(args, message):
    with pytest.raises(LabelError, match=message):
        ManifestTube(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "Somewhere"), r"Site code '' is not valid"),
        (("UCSD-01", "Łódź Biobank"), r"'Ł'.*Helvetica font cannot print"),
        (("UCSD-01", "UCSD", "\n".join("line" for _ in range(7))), r"at most 6"),
    ],
)
def test_invalid_party_is_refused_with_what_to_fix(args, message):
    with pytest.raises(LabelError, match=message):
        ManifestParty(*args)


def test_blank_optional_text_counts_as_absent_and_addresses_are_tidied():
    party = ManifestParty("UCSD-01", " UCSD ", "  9500 Gilman Dr \r\n\r\n La Jolla ", "  ")
    assert party == ManifestParty("UCSD-01", "UCSD", "9500 Gilman Dr\nLa Jolla", None)
    spec = _spec(list(_tubes(2)), carrier="", tracking_number=" ")
    assert spec.carrier is None and spec.tracking_number is None
    assert isinstance(spec.tubes, tuple)
    assert "Carrier —" in pdf_text(render_manifest(spec))


def test_text_is_printed_literally_not_as_markup():
    text = pdf_text(render_manifest(_spec(1, carrier="<b>A&B</b> Couriers")))
    assert "<b>A&B</b> Couriers" in text


def test_spec_has_no_field_that_could_carry_participant_information():
    assert [field.name for field in dataclasses.fields(ManifestTube)] == [
        "sample_id",
        "tube_code",
        "collection_date",
    ]
    assert {field.name for field in dataclasses.fields(ManifestSpec)} == {
        "manifest_number",
        "origin",
        "destination",
        "temperature",
        "tubes",
        "responsible_person",
        "responsible_phone",
        "printed_at",
        "status",
        "carrier",
        "tracking_number",
        "dry_ice_kg",
        "dispatched_at",
        "dispatched_by",
    }


manifest_numbers = st.text(alphabet=SAMPLE_ID_ALPHABET, min_size=9, max_size=9).map("MN".__add__)


@settings(max_examples=10, deadline=None)
@given(number=manifest_numbers, seed=st.integers(0, 1000))
def test_any_manifest_number_renders_and_scans(number, seed):
    # tests.decoding directly: hypothesis does not re-run function-scoped fixtures.
    pdf = render_manifest(_spec(_tubes(3, seed), manifest_number=number))
    page = decoding.rasterize(pdf, DPI)[0]
    assert decoding.decode(page) == [(CODE128, number)]
