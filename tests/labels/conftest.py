"""Shared helpers for the labels tests: real rasterising and real decoding.

The rasterising and decoding live in ``tests/decoding.py`` (other tests decode labels and
manifests too); they are handed out here as fixtures for the label tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from PIL import Image

from labels import SAMPLE_ID_ALPHABET
from tests.decoding import Decoded
from tests.decoding import decode as _decode
from tests.decoding import rasterize as _rasterize


def _random_ids(count: int, seed: int) -> list[str]:
    """Three edge-shaped IDs followed by ``count`` random valid ones."""
    rng = random.Random(seed)
    ids = ["".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10)) for _ in range(count)]
    # Edge shapes: all digits (pure subset C, shortest symbol), all letters (pure subset
    # B), and mixed runs that make the encoder switch subsets mid-symbol.
    return ["0123456789", "WXYZWXYZWX", "AB1234CD56", *ids]


@pytest.fixture
def random_ids() -> Callable[[int, int], list[str]]:
    return _random_ids


@pytest.fixture
def rasterize() -> Callable[[bytes, int], list[Image.Image]]:
    return _rasterize


@pytest.fixture
def decode() -> Callable[[Image.Image], Decoded]:
    return _decode
