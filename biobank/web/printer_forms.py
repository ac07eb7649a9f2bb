"""Forms of the label printer pages: an admin registers or changes a printer; the label
cards post a print job to one. The service checks every value (host, port, resolution,
stock): the fields only carry them, and show its refusals beside themselves."""

from __future__ import annotations

from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

import labels
from biobank.models import PRINTER_DPIS, Printer, Site
from biobank.services.collecting import printers
from biobank.web.forms import PageForm


def _printer_stocks() -> list[SelectChoice]:
    return [SelectChoice(code, stock.name) for code, stock in labels.STOCKS.items() if stock.zpl]


class PrinterSettingsForm(PageForm):
    """What a printer is called, where it is, and what it prints on."""

    name = StringField("Name", render_kw={"autocomplete": "off", "maxlength": printers.MAX_NAME})
    host = StringField(
        "Host (IP address or host name)",
        render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": printers.MAX_HOST},
    )
    port = IntegerField(
        "Port",
        default=printers.DEFAULT_PORT,
        validators=[
            InputRequired(f"Give the printer's raw printing port ({printers.DEFAULT_PORT}).")
        ],
        render_kw={"min": 1, "max": 65535, "inputmode": "numeric"},
    )
    dpi = SelectField(
        "Resolution",
        default="300",
        validate_choice=False,
        choices=[SelectChoice(str(dpi), f"{dpi} dpi") for dpi in PRINTER_DPIS],
    )
    stock = SelectField("Label stock loaded", default=labels.DEFAULT_STOCK, validate_choice=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stock.choices = _printer_stocks()

    def dpi_value(self) -> int:
        """The resolution chosen (0, which the service refuses with its sentence, if none)."""
        value = self.dpi.data or ""
        return int(value) if str(value).isdigit() else 0

    def settings(self) -> dict:
        return {
            "name": self.name.data or "",
            "host": self.host.data or "",
            "port": self.port.data,
            "dpi": self.dpi_value(),
            "stock": self.stock.data or "",
        }

    @classmethod
    def of(cls, printer: Printer) -> PrinterSettingsForm:
        return cls(
            formdata=None,
            name=printer.name,
            host=printer.host,
            port=printer.port,
            dpi=str(printer.dpi),
            stock=printer.stock,
        )


class NewPrinterForm(PrinterSettingsForm):
    """A printer for a site: the site comes first."""

    site = SelectField("Site", validate_choice=False)

    def offer(self, sites: list[Site]) -> NewPrinterForm:
        self.site.choices = [
            SelectChoice(site.code, f"{site.code} · {site.name}") for site in sites
        ]
        return self


class PrintToPrinterForm(PageForm):
    """A "Print to <printer>" button: the CSRF token, and the reason when the labels printed
    before (the same field as the PDF's, in the same form)."""

    reason = StringField("Reason for reprinting")
