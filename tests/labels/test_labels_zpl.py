"""ZPL output, rendered offline with zplkit and decoded like a printed label."""

import datetime
import re

import pytest
import zplkit
import zxingcpp
from PIL import Image

from labels import LabelError, LabelSpec, get_stock, render_zpl

COLLECTED = datetime.date(2025, 3, 14)


def _render(zpl: bytes, dpi: int) -> list[Image.Image]:
    document = zplkit.render(zpl, zplkit.Options(profile="zd621", dpi=dpi))
    images = []
    for label in document.labels:
        raster = label.rasterize()
        images.append(Image.frombytes("L", (raster.width, raster.height), raster.pixels))
    return images


@pytest.mark.parametrize(
    ("code", "symbology", "command", "seed"),
    [
        ("cryo-roll", zxingcpp.BarcodeFormat.Code128, "^BC", 11),
        ("cap-2d", zxingcpp.BarcodeFormat.DataMatrix, "^BX", 12),
    ],
)
def test_each_zpl_label_scans_as_exactly_its_id(code, symbology, command, seed, random_ids, decode):
    stock = get_stock(code)
    ids = random_ids(40, seed)  # zplkit renders at most 64 labels per call
    specs = [LabelSpec(sample_id, "1SST8", COLLECTED) for sample_id in ids]
    zpl = render_zpl(specs, code)
    text = zpl.decode("ascii")
    assert text.count("^XA") == text.count("^XZ") == len(ids)
    assert text.count(command) == len(ids)
    assert f"^PW{stock.label_width_dots}" in text and f"^LL{stock.label_height_dots}" in text
    images = _render(zpl, stock.dpi)
    assert len(images) == len(ids)
    for sample_id, image in zip(ids, images, strict=True):
        assert image.size == (stock.label_width_dots, stock.label_height_dots)
        assert decode(image) == [(symbology, sample_id)]


@pytest.mark.parametrize(
    "sample_id",
    # Digit runs where the printer's automatic subsets may differ from ours (the first
    # is one symbol longer on the printer), plus the shortest and longest symbols.
    ["8GZMJ24117", "0123456789", "A123456789", "12345ABCDE", "WXYZWXYZWX"],
)
def test_printer_encoded_barcode_keeps_its_quiet_zones(sample_id, decode):
    stock = get_stock("cryo-roll")
    (image,) = _render(render_zpl([LabelSpec(sample_id, "1SST8", None)]), stock.dpi)
    assert decode(image) == [(zxingcpp.BarcodeFormat.Code128, sample_id)]
    row = image.crop((0, 40, image.width, 41)).tobytes()
    dark = [x for x, value in enumerate(row) if value < 128]
    quiet = 10 * 2  # ten 2-dot modules
    assert dark[0] >= quiet and image.width - 1 - dark[-1] >= quiet


def test_code128_stock_uses_2_dot_modules_and_no_datamatrix():
    text = render_zpl([LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED)]).decode("ascii")
    assert "^BY2" in text and "^BX" not in text


def test_copies_are_separate_formats():
    specs = [
        LabelSpec("7KQ2M9XD3E", "URINE", COLLECTED, copies=2),
        LabelSpec("0123456789", "1SST8", None),
    ]
    text = render_zpl(specs).decode("ascii")
    formats = re.findall(r"\^XA.*?\^XZ", text, flags=re.DOTALL)
    assert len(formats) == 3
    assert formats[0] == formats[1]
    assert "^FD____-__-__^FS" in formats[2]


def test_zpl_text_fields_carry_only_id_tube_code_and_date():
    text = render_zpl([LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED)]).decode("ascii")
    assert re.findall(r"\^FD(.*?)\^FS", text) == [
        "7KQ2M9XD3E",
        "7KQ2M-9XD3E",
        "1SST8",
        "2025-03-14",
    ]


@pytest.mark.parametrize("tube_code", ["1^SST", "~JA", "A\\B"])
def test_zpl_control_characters_in_tube_codes_are_refused(tube_code):
    spec = LabelSpec("7KQ2M9XD3E", tube_code, COLLECTED)
    with pytest.raises(LabelError, match="ZPL printers read as commands"):
        render_zpl([spec])


def test_sheet_stock_cannot_be_printed_as_zpl():
    with pytest.raises(LabelError, match="use render_pdf") as raised:
        render_zpl([LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED)], "cryo-sheet-letter")
    assert "cryo-roll" in str(raised.value) and "cap-2d" in str(raised.value)


def test_no_labels_is_an_error():
    with pytest.raises(LabelError, match="at least one LabelSpec"):
        render_zpl([])


def test_unknown_stock_is_a_label_error():
    with pytest.raises(LabelError, match="choose one of"):
        render_zpl([LabelSpec("7KQ2M9XD3E", "1SST8", COLLECTED)], "zebra")
