"""The pick list and the distribution manifest as PDFs: compressed, the same spec giving the
same bytes, refusing what they cannot print."""

from __future__ import annotations

import pytest

from labels import LabelError
from labels.distribution import (
    DistributedTube,
    DistributionManifestSpec,
    PickListRow,
    PickListSpec,
    render_distribution_manifest,
    render_pick_list,
)
from tests.decoding import pdf_text


def _pick_list(**changes) -> PickListSpec:
    fields = {
        "request_id": 12,
        "protocol": "IRB-2026-0142 · Serum proteomics",
        "site": "MAYO-BB",
        "printed_at": "2026-12-07 09:00 CST",
        "rows": [
            PickListRow("7KQ2M9XD3E", "1SST8", "4.5", "Freezer 1 › Rack 2", "Box 7", "A1"),
            PickListRow("ABCDEFGHJT", "1SST8", "1", "Freezer 1 › Rack 2", "Box 7", "B3", True),
        ],
    }
    fields.update(changes)
    return PickListSpec(**fields)


def _manifest(**changes) -> DistributionManifestSpec:
    fields = {
        "shipment_id": 3,
        "request_id": 12,
        "protocol": "IRB-2026-0142 · Serum proteomics",
        "origin": "MAYO-BB · Mayo Biobank",
        "origin_address": "200 First St SW\nRochester, MN",
        "institution": "University of Somewhere",
        "institution_address": "1 Science Way",
        "responsible_person": "Dr Ada Researcher",
        "status": "dispatched",
        "printed_at": "2026-12-07 09:00 CST",
        "tubes": [DistributedTube("SP-AAAA-BBBB-CCCC-DDDD", "7KQ2M9XD3E", "1SST8", "1.5", "—")],
        "carrier": "FedEx",
        "tracking_number": "123456789012",
    }
    fields.update(changes)
    return DistributionManifestSpec(**fields)


def test_the_pick_list_is_compressed_invariant_and_readable():
    first, second = render_pick_list(_pick_list()), render_pick_list(_pick_list())
    assert first == second and b"/FlateDecode" in first
    text = pdf_text(first)
    assert "7KQ2M-9XD3E" in text and "Freezer 1 › Rack 2" in text and "Box 7" in text
    assert "picked" in text  # the tube picked already says so instead of a box to tick


def test_the_distribution_manifest_is_compressed_invariant_and_names_the_pseudonym():
    first, second = (
        render_distribution_manifest(_manifest()),
        render_distribution_manifest(_manifest()),
    )
    assert first == second and b"/FlateDecode" in first
    text = pdf_text(first)
    assert "SP-AAAA-BBBB-CCCC-DDDD" in text and "7KQ2M-9XD3E" in text
    assert "University of Somewhere" in text and "123456789012" in text


def test_a_bad_sample_id_or_an_unprintable_name_is_refused():
    with pytest.raises(LabelError, match="Sample ID"):
        render_pick_list(
            _pick_list(rows=[PickListRow("7KQ2M-9XD3E", "1SST8", "1", "F", "B", "A1")])
        )
    with pytest.raises(LabelError, match="Institution"):
        _manifest(institution="大学")
