"""The PDF's own bookkeeping, checked strictly.

PDFium quietly rebuilds a broken cross-reference table, so rasterising alone would not
notice a wrong offset or stream length; a stricter reader (or printer RIP) would.
"""

import datetime
import re
import zlib

import pytest

from labels import LabelSpec, render_pdf
from labels.pdfwriter import pdf_string

SPECS = [
    LabelSpec("7KQ2M9XD3E", "(1SST8)", datetime.date(2025, 3, 14), copies=2),
    LabelSpec("0123456789", "A\\B", None),
]


@pytest.mark.parametrize("code", ["cryo-roll", "cryo-sheet-letter", "cap-2d"])
def test_xref_offsets_and_stream_lengths_are_exact(code):
    pdf = render_pdf(SPECS, code, start_position=85 if code == "cryo-sheet-letter" else 1)
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n0 ")
    header = re.match(rb"xref\n0 (\d+)\n", pdf[startxref:])
    size = int(header.group(1))
    table = pdf[startxref + header.end() :][: 20 * size]
    entries = [table[i : i + 20] for i in range(0, len(table), 20)]
    assert entries[0] == b"0000000000 65535 f\r\n"
    for number, entry in enumerate(entries[1:], start=1):
        assert entry.endswith(b" 00000 n\r\n"), entry
        offset = int(entry[:10])
        assert pdf[offset:].startswith(f"{number} 0 obj\n".encode()), number
    assert f"/Size {size} ".encode() in pdf
    streams = list(re.finditer(rb"<< /Length (\d+) /Filter /FlateDecode >>\nstream\n", pdf))
    assert len(streams) == len(re.findall(rb"/Type /Page ", pdf)) > 0  # one per page
    for match in streams:
        end = match.end() + int(match.group(1))
        assert pdf[end:].startswith(b"\nendstream\nendobj\n")
        inflater = zlib.decompressobj()
        assert inflater.decompress(pdf[match.end() : end]).endswith(b"ET\n")
        assert inflater.eof and not inflater.unused_data


def _contents(pdf: bytes) -> bytes:
    """Every page's content stream, inflated, one after another."""
    streams = re.finditer(rb"<< /Length (\d+) /Filter /FlateDecode >>\nstream\n", pdf)
    return b"".join(
        zlib.decompress(pdf[match.end() : match.end() + int(match.group(1))]) for match in streams
    )


def test_page_count_in_the_page_tree():
    pdf = render_pdf(SPECS)
    assert b"/Type /Pages /Count 3 " in pdf
    assert pdf.count(b"/Type /Page ") == 3


def test_text_operands_are_escaped():
    assert pdf_string("A\\B (x)") == "(A\\\\B \\(x\\))"
    contents = _contents(render_pdf(SPECS))
    assert contents.count(b"(\\(1SST8\\)) Tj") == 2
    assert contents.count(b"(A\\\\B) Tj") == 1
