"""Forms of the inventory-import page: the upload, and "Apply" carrying the checked file.

They parse what was posted and nothing more; every rule about the file and its rows comes from
``services.inventory``, so the page and the API cannot disagree.
"""

from __future__ import annotations

import hashlib

from flask_wtf.file import FileField
from wtforms import HiddenField
from wtforms.validators import ValidationError

from biobank.web.storage_forms import RackApplyForm, RackScanForm

CSV_FILES = {"accept": ".csv,.txt,text/csv"}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class InventoryForm(RackScanForm):
    file = FileField("Inventory file (CSV)", render_kw=CSV_FILES)

    def validate_file(self, field: FileField) -> None:
        if not field.data:
            raise ValidationError("Choose the inventory file (CSV) to upload.")

    @property
    def filename(self) -> str:
        return self.file.data.filename if self.file.data else ""


class InventoryApplyForm(RackApplyForm):
    """The checked file's bytes kept in the page, as the rack-scan page keeps them. A file too
    large to keep is chosen again, and must then be the very file that was checked."""

    UPLOAD_AGAIN = "Upload the inventory file again: nothing was imported."

    checked = HiddenField()

    @classmethod
    def keeping(cls, data: bytes, filename: str) -> InventoryApplyForm:
        form = super().keeping(data, filename)
        form.checked.data = _digest(data)
        return form

    def is_the_checked_file(self, data: bytes) -> bool:
        return bool(self.kept.data) or self.checked.data == _digest(data)
