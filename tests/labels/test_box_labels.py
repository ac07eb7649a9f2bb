from __future__ import annotations

import pytest
import zxingcpp

from labels import BoxLabelSpec, LabelError, render_box_labels
from tests import decoding

CODE = "BX7KQ2M9XD3"


def test_each_box_label_scans_back_to_its_code_and_names_the_box():
    specs = [
        BoxLabelSpec(CODE, "Freezer 1 › Rack 002 › Box 00017"),
        BoxLabelSpec("BX00000000Z", "Freezer 2 › Shelf 1 › Box 1"),
    ]
    pdf = render_box_labels(specs)
    pages = decoding.rasterize(pdf, dpi=300)
    assert [page.size for page in pages] == [(675, 375)] * 2  # 2.25 x 1.25 in at 300 dpi
    for page, spec in zip(pages, specs, strict=True):
        assert decoding.decode(page) == [(zxingcpp.BarcodeFormat.Code128, spec.code)]
    text = decoding.pdf_text(pdf)
    assert "Freezer 1 › Rack 002 › Box 00017" in text and CODE in text


def test_a_long_name_is_shortened_to_fit_and_the_code_still_scans():
    name = "Freezer with a very long name › Shelf 10 › Rack for the pilot study › Box 00017"
    pdf = render_box_labels([BoxLabelSpec(CODE, name[:80])])
    [page] = decoding.rasterize(pdf, dpi=300)
    assert decoding.decode(page) == [(zxingcpp.BarcodeFormat.Code128, CODE)]
    shown = decoding.pdf_text(pdf)
    assert "…" in shown and name[:80] not in shown and name[:20] in shown


@pytest.mark.parametrize(
    ("code", "name", "message"),
    [
        ("MN7KQ2M9XD3", "Box 1", "BX and nine"),
        ("BX7KQ2M9XD", "Box 1", "BX and nine"),
        ("BX7KQ2M9XDU", "Box 1", "BX and nine"),  # U is not Crockford
        (CODE, "  ", "needs the box's name"),
        (CODE, "Box\n1", "one line"),
        (CODE, "B" * 81, "at most 80"),
    ],
)
def test_bad_box_labels_are_refused_with_what_to_fix(code, name, message):
    with pytest.raises(LabelError, match=message):
        BoxLabelSpec(code, name)


def test_an_empty_job_is_refused():
    with pytest.raises(LabelError, match="No box labels"):
        render_box_labels([])
