"""Two real PDF renderers, each smoothed (anti-aliased) and not, and the tools they need.

pdfium (through pypdfium2, as ``page.render(scale=dpi / 72)``: no nudging of the scale) is
what Chromium and many print pipelines use; poppler (``pdftoppm``) is what most Linux
viewers and CUPS filters use. A label that scans from all four at a printer's resolution
scans however it is printed.

Command-line tools the tests need (``pdftoppm``, ``qpdf``) are Debian packages. Under CI
(``CI=true``) a missing one fails the test, so CI cannot pass by skipping; on a newcomer's
machine the test is skipped with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

Renderer = Callable[[bytes, int], list[Image.Image]]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_tool(command: str, package: str) -> str:
    """The path of ``command``; a failure under CI, a skip elsewhere, when it is missing."""
    path = shutil.which(command)
    if path:
        return path
    message = f"{command} is not installed: install it with `sudo apt-get install {package}`"
    if in_ci():
        pytest.fail(f"{message}. CI must run this test (.ci/run installs {package}).")
    pytest.skip(message)


def pdfium(smooth: bool) -> Renderer:
    def render(pdf: bytes, dpi: int) -> list[Image.Image]:
        document = pypdfium2.PdfDocument(pdf)
        try:
            return [
                page.render(
                    scale=dpi / 72,
                    grayscale=True,
                    no_smoothpath=not smooth,
                    no_smoothtext=not smooth,
                )
                .to_pil()
                .convert("L")
                for page in document
            ]
        finally:
            document.close()

    render.__name__ = f"pdfium ({'smoothed' if smooth else 'not smoothed'})"
    return render


def poppler(smooth: bool) -> Renderer:
    def render(pdf: bytes, dpi: int) -> list[Image.Image]:
        pdftoppm = require_tool("pdftoppm", "poppler-utils")
        smoothing = [] if smooth else ["-aa", "no", "-aaVector", "no"]
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "in.pdf"
            source.write_bytes(pdf)
            subprocess.run(
                [pdftoppm, "-r", str(dpi), "-gray", *smoothing, str(source), f"{folder}/page"],
                check=True,
                capture_output=True,
            )
            # pdftoppm pads page numbers to the width of the last one: page-01 ... page-12.
            images = []
            for path in sorted(Path(folder).glob("page-*.pgm")):
                with Image.open(path) as image:
                    images.append(image.convert("L"))
            return images

    render.__name__ = f"poppler ({'smoothed' if smooth else 'not smoothed'})"
    return render
