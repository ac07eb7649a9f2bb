"""One scan field for everything: a scanned code is a tube, a manifest or a box, by shape."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from biobank.errors import ValidationFailed
from biobank.models import Container, Sample, Shipment, User
from biobank.services.core import ids, samples
from biobank.services.shipping import sending
from biobank.services.storage import freezer_tree


class ScanKind(StrEnum):
    SAMPLE = "sample"
    SHIPMENT = "shipment"
    BOX = "box"


@dataclass(frozen=True)
class ScanTarget:
    kind: ScanKind
    record: Sample | Shipment | Container


def resolve_scan(user: User, text: str) -> ScanTarget:
    """What a scanned or typed code names, if the user may see it."""
    code = ids.normalise(text or "")
    if not code:
        raise ValidationFailed.for_field("code", "Scan or type a tube, manifest or box code.")
    if ids.parse_prefixed_code(code, ids.MANIFEST_PREFIX):
        return ScanTarget(ScanKind.SHIPMENT, sending.find_by_manifest(user, code))
    if ids.parse_prefixed_code(code, ids.BOX_PREFIX):
        return ScanTarget(ScanKind.BOX, freezer_tree.find_box_by_barcode(user, code))
    try:
        return ScanTarget(ScanKind.SAMPLE, samples.get_sample(user, code, field="code"))
    except ValidationFailed as invalid:
        if code.startswith((ids.MANIFEST_PREFIX, ids.BOX_PREFIX)):
            raise ValidationFailed.for_field(
                "code",
                f"{text.strip()!r} looks like a manifest or box code but does not check "
                "out: scan it again.",
            ) from None
        raise ValidationFailed.for_field("code", invalid.detail) from None
