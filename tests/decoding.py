"""Real rasterising and real decoding, shared by every test that proves a barcode scans."""

from __future__ import annotations

import pypdfium2
import zxingcpp
from PIL import Image

Decoded = list[tuple[zxingcpp.BarcodeFormat, str]]


def rasterize(pdf: bytes, dpi: int) -> list[Image.Image]:
    """Every page as a grayscale image at exactly ``dpi``, as a printer would image it.

    pypdfium2 sizes the bitmap with ceil(points * scale) and then stretches the page to
    fill it; a 90.72 pt label at 300/72 comes out as 378.000005 -> 379 px and every bar
    edge drifts off the dot grid. Shaving the scale by a millionth keeps the bitmap at
    the true dot count, so the page maps onto it at exactly ``dpi``.
    """
    document = pypdfium2.PdfDocument(pdf)
    try:
        scale = dpi / 72 * (1 - 1e-6)
        return [page.render(scale=scale, grayscale=True).to_pil().convert("L") for page in document]
    finally:
        document.close()


# The symbologies our labels print. Looking for these alone keeps the decoder from "finding"
# an EAN-13 in a field of Code 128 bars now and then (a random sample ID once read as
# 0457728728202 on a letter sheet); a label printed in any other symbology is not found, and
# its test fails as it should.
PRINTED = (zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.DataMatrix)


def decode(image: Image.Image) -> Decoded:
    return [
        (result.format, result.text) for result in zxingcpp.read_barcodes(image, formats=PRINTED)
    ]


def pdf_text(pdf: bytes) -> str:
    """All the text a PDF shows, page by page."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
