"""Every kind of PDF the labels package makes passes ``qpdf --check`` and is compressed.

qpdf reads the file strictly (cross-reference table, object syntax, stream lengths) and
decodes every stream, so a wrong offset or a broken Flate stream fails here even where a
forgiving viewer would quietly repair it.
"""

from __future__ import annotations

import datetime
import re
import subprocess

import pytest

from labels import (
    STOCKS,
    BoxLabelSpec,
    LabelSpec,
    ManifestParty,
    ManifestSpec,
    ManifestTube,
    ReportDoc,
    render_box_labels,
    render_manifest,
    render_pdf,
    render_report,
)
from tests.labels.renderers import require_tool

COLLECTED = datetime.date(2025, 3, 14)
IDS = ["7KQ2M9XD3E", "0123456789", "ABCDEFGHJT", "ZZZZZZZZZ9"]


def _labels(code: str) -> bytes:
    specs = [LabelSpec(sample_id, "(1SST8)", COLLECTED, copies=2) for sample_id in IDS]
    start = 83 if STOCKS[code].grid is not None else 1  # a sheet: run onto a second page
    return render_pdf(specs, code, start_position=start)


def _manifest() -> bytes:
    tubes = [ManifestTube(sample_id, "1SST8", COLLECTED) for sample_id in IDS]
    return render_manifest(
        ManifestSpec(
            manifest_number="MN-2025-0042",
            origin=ManifestParty("UCSD-01", "UC San Diego", "9500 Gilman Dr\nLa Jolla, CA"),
            destination=ManifestParty("MAYO-BB", "Mayo Clinic Biobank", "Rochester, MN"),
            temperature="frozen",
            tubes=tuple(tubes),
            responsible_person="Dr Jane Roe",
            responsible_phone="+1 858 555 0123",
            printed_at="2026-11-24 14:05 PST",
            status="in_transit",
            carrier="FedEx",
            tracking_number="771234567890",
            dry_ice_kg=2.5,
            dispatched_at="2026-11-24 15:30 PST",
            dispatched_by="Sam Packer",
        )
    )


def _box_labels() -> bytes:
    return render_box_labels(
        [
            BoxLabelSpec("BX7KQ2M9XD3", "Freezer 1 › Rack 002 › Box 00017"),
            BoxLabelSpec("BX000000000", "Freezer with a long name for the pilot study › Box 1"),
        ]
    )


def _report() -> bytes:
    rows = [[f"MN-{number:04d}", "UCSD-01", "MAYO-BB", number] for number in range(120)]
    return render_report(
        ReportDoc(
            title="Overdue shipments",
            generated="2026-11-24 14:05 CST",
            columns=["Manifest", "From", "To", "Days"],
            rows=rows,
            note="Shipments in transit for more than 3 days.",
        )
    )


KINDS = {
    **{f"labels {code}": (lambda code=code: _labels(code)) for code in sorted(STOCKS)},
    "manifest": _manifest,
    "box labels": _box_labels,
    "report": _report,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_qpdf_finds_no_errors_or_warnings(kind, tmp_path):
    qpdf = require_tool("qpdf", "qpdf")
    path = tmp_path / "out.pdf"
    path.write_bytes(KINDS[kind]())
    checked = subprocess.run([qpdf, "--check", str(path)], capture_output=True, text=True)
    # qpdf exits 0 when clean, 3 on warnings (a repaired file), 2 on errors.
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No syntax or stream encoding errors found" in checked.stdout


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_stream_is_flate_compressed(kind):
    pdf = KINDS[kind]()
    dictionaries = re.findall(rb"<<((?:(?!>>).)*?)>>\s*stream\r?\n", pdf, flags=re.DOTALL)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert len(dictionaries) >= pages > 0
    for dictionary in dictionaries:
        assert re.search(rb"/Filter\s*(\[[^\]]*)?/FlateDecode", dictionary), dictionary


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_same_input_makes_the_same_bytes(kind):
    assert KINDS[kind]() == KINDS[kind]()


def test_a_missing_qpdf_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda command: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install qpdf"):
        require_tool("qpdf", "qpdf")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        require_tool("qpdf", "qpdf")
