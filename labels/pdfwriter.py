"""A minimal streaming PDF writer for pages of vector bars and Helvetica text.

Why not reportlab's canvas: it keeps every page as Python objects until ``save()``, which
measured about 7 kB of memory per label on top of the PDF itself (10,000 labels: 112 MB
resident for a 14 MB file). Label jobs only need filled rectangles and two standard
fonts, so pages are serialised the moment they are finished and only their byte offsets
(8 bytes each) are kept for the cross-reference table. Memory is then the output bytes
plus a constant, however many labels there are.

The file is plain PDF 1.4: one shared resource dictionary and page size on the page tree
(both inherited by every page), Flate-compressed content streams (a label's operators
shrink to about a quarter), a classic xref table.
"""

from __future__ import annotations

import io
import zlib
from array import array

# reportlab's names for the standard fonts -> resource names used in content streams.
FONT_RESOURCES = {"Helvetica": "F1", "Helvetica-Bold": "F2"}

# The page box is written this far under the page's true size. Renderers size their bitmap as
# ceil(size x dpi / 72), and that product can land a rounding error above the whole number:
# 792 pt at 300 dpi computes as 3300.0000000000005, and 90.72 pt (1.26 in, which pdfium reads
# as a 32-bit float) as 378.000005. Both would get a pixel more than the page has, and pdfium
# then stretches the page over it, moving every bar edge off the pixel grid: roll labels
# rendered anti-aliased at 300 dpi decoded 350 times in 400. A thousandth of a point (0.35 um)
# under keeps the count exact wherever the page is a whole number of pixels.
PAGE_BOX_SHAVE_PT = 0.001
# zlib's default level: level 1 is barely faster on a label's kilobyte and a tenth larger;
# 9 saves nothing over 6 on it.
COMPRESSION_LEVEL = 6

_CATALOG = 1
_PAGE_TREE = 2
_FIRST_FONT = 3
_FIRST_PAGE = _FIRST_FONT + len(FONT_RESOURCES)


def pdf_number(value: float) -> str:
    """A PDF number: four decimals is far below one 300-dpi dot (0.24 pt)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def deflate(data: bytes) -> bytes:
    """``data`` as a FlateDecode stream (zlib format). zlib's one-call form: measured over
    10,000 roll labels it is quicker than a compressor object sized to the page, for the
    same bytes."""
    return zlib.compress(data, COMPRESSION_LEVEL)


def pdf_string(text: str) -> str:
    """A literal string operand; callers pass printable ASCII (WinAnsi-identical)."""
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


class StreamingPdf:
    """Pages of one size, written as they are added; ``finish()`` returns the file."""

    def __init__(self, page_width_pt: float, page_height_pt: float) -> None:
        width = pdf_number(page_width_pt - PAGE_BOX_SHAVE_PT)
        height = pdf_number(page_height_pt - PAGE_BOX_SHAVE_PT)
        self._media_box = f"[0 0 {width} {height}]"
        self._out = io.BytesIO()
        # Byte offset of each object, indexed by object number (0 is the free-list head).
        self._offsets = array("Q", [0] * _FIRST_PAGE)
        self._pages = 0
        # The second line's high bytes mark the file as binary for transfer tools.
        self._out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._object(_CATALOG, f"<< /Type /Catalog /Pages {_PAGE_TREE} 0 R >>")
        for number, font in enumerate(FONT_RESOURCES, start=_FIRST_FONT):
            self._object(
                number,
                f"<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>",
            )

    @property
    def page_count(self) -> int:
        return self._pages

    def _object(self, number: int, body: str) -> None:
        self._offsets[number] = self._out.tell()
        self._out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("ascii"))

    def add_page(self, content: str) -> None:
        data = deflate(content.encode("ascii"))
        page = _FIRST_PAGE + 2 * self._pages
        self._pages += 1
        self._offsets.extend((0, 0))  # slots for the page and its content stream
        self._offsets[page + 1] = self._out.tell()
        self._out.write(
            f"{page + 1} 0 obj\n<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode(
                "ascii"
            )
        )
        self._out.write(data)
        self._out.write(b"\nendstream\nendobj\n")
        self._object(page, f"<< /Type /Page /Parent {_PAGE_TREE} 0 R /Contents {page + 1} 0 R >>")

    def finish(self) -> bytes:
        kids = " ".join(f"{_FIRST_PAGE + 2 * index} 0 R" for index in range(self._pages))
        fonts = " ".join(
            f"/{name} {number} 0 R"
            for number, name in enumerate(FONT_RESOURCES.values(), start=_FIRST_FONT)
        )
        self._object(
            _PAGE_TREE,
            f"<< /Type /Pages /Count {self._pages} /Kids [{kids}] /MediaBox {self._media_box} "
            f"/Resources << /Font << {fonts} >> /ProcSet [/PDF /Text] >> >>",
        )
        xref_offset = self._out.tell()
        size = len(self._offsets)
        self._out.write(f"xref\n0 {size}\n".encode("ascii"))
        # Each entry is exactly 20 bytes: 10-digit offset, generation, type, CRLF. Written
        # in slices so a long job never holds every entry as a Python string at once.
        self._out.write(b"0000000000 65535 f\r\n")
        for start in range(1, size, 4096):
            chunk = self._offsets[start : start + 4096]
            self._out.write("".join(f"{offset:010d} 00000 n\r\n" for offset in chunk).encode())
        trailer = f"trailer\n<< /Size {size} /Root {_CATALOG} 0 R >>\nstartxref\n{xref_offset}\n"
        self._out.write(trailer.encode("ascii") + b"%%EOF\n")
        return self._out.getvalue()
