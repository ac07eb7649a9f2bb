"""Anonymous sample-tube labels as PDF or ZPL.

A label carries only the sample ID (as a barcode and as ``XXXXX-XXXXX`` text), the tube
code and the collection date, never anything about the participant.

Stocks (see ``STOCKS``; every dimension lands on whole printer dots):

``cryo-roll`` (default)
    Thermal-transfer roll, 1.26 x 0.5 in (32 x 12.7 mm) at 300 dpi, one label per PDF
    page. Code 128 with 2-dot modules and 10-module quiet zones, grouped ID, tube code
    and date. PDF and ZPL.
``cryo-sheet-letter``
    Laser sheet, US letter, 5 columns x 17 rows = 85 labels of 1.28 x 0.5 in (column
    pitch 1.63 in, row pitch 0.6 in, margins 0.35 in left, 0.45 in top), snapped to
    300 dpi. Same content as the roll. ``start_position`` (1-85, row by row) reuses a
    part-used sheet; further labels continue on new sheets. PDF only.
``cap-2d``
    Thermal-transfer cap label, 0.5 x 0.5 in (12.7 mm square) at 300 dpi: a 14 x 14
    DataMatrix with 5-dot modules, the grouped ID and the tube code. PDF and ZPL.

``render_pdf`` streams pages to a small PDF writer, so memory stays flat for long jobs.
``render_zpl`` emits one ``^XA...^XZ`` per printed copy and refuses sheet stocks (laser
media) and tube codes containing ``^``, ``~`` or ``\\``.

``render_manifest`` turns a ``ManifestSpec`` (origin and destination ``ManifestParty``,
``ManifestTube`` rows) into a multi-page US-letter shipment manifest: manifest number as
text and Code 128, UN3373 mark (UN1845 dry ice when frozen), responsible person, every
tube with a receipt check box, totals per tube code and custody signature blanks. Like a
label, it has no field for participant information.

``render_box_labels`` prints freezer box labels (2.25 x 1.25 in): the box code as Code 128
and text, and the box's name and place.
"""

from labels.box import BoxLabelSpec, render_box_labels
from labels.errors import LabelError, UnknownStock
from labels.manifest import ManifestParty, ManifestSpec, ManifestTube, render_manifest
from labels.pdf import render_pdf
from labels.report import ReportDoc, render_report
from labels.spec import SAMPLE_ID_ALPHABET, LabelSpec
from labels.stocks import DEFAULT_STOCK, STOCKS, LabelStock, SheetGrid, get_stock
from labels.zpl import render_zpl

__all__ = [
    "DEFAULT_STOCK",
    "SAMPLE_ID_ALPHABET",
    "STOCKS",
    "BoxLabelSpec",
    "LabelError",
    "LabelSpec",
    "LabelStock",
    "ManifestParty",
    "ManifestSpec",
    "ManifestTube",
    "ReportDoc",
    "SheetGrid",
    "UnknownStock",
    "get_stock",
    "render_box_labels",
    "render_manifest",
    "render_pdf",
    "render_report",
    "render_zpl",
]
