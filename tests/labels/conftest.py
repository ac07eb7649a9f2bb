"""Shared helpers for the labels tests: real rasterising and real decoding.

Helpers are handed out as fixtures (not imported from a helper module) so the tests work
under any pytest import mode without this directory being a package.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from labels import SAMPLE_ID_ALPHABET

Decoded = list[tuple[zxingcpp.BarcodeFormat, str]]


def _random_ids(count: int, seed: int) -> list[str]:
    """Three edge-shaped IDs followed by ``count`` random valid ones."""
    rng = random.Random(seed)
    ids = ["".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10)) for _ in range(count)]
    # Edge shapes: all digits (pure subset C, shortest symbol), all letters (pure subset
    # B), and mixed runs that make the encoder switch subsets mid-symbol.
    return ["0123456789", "WXYZWXYZWX", "AB1234CD56", *ids]


def _rasterize(pdf: bytes, dpi: int) -> list[Image.Image]:
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


def _decode(image: Image.Image) -> Decoded:
    return [(result.format, result.text) for result in zxingcpp.read_barcodes(image)]


@pytest.fixture
def random_ids() -> Callable[[int, int], list[str]]:
    return _random_ids


@pytest.fixture
def rasterize() -> Callable[[bytes, int], list[Image.Image]]:
    return _rasterize


@pytest.fixture
def decode() -> Callable[[Image.Image], Decoded]:
    return _decode
