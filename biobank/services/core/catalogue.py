"""The catalogue of tube types and kits, loaded from the data files shipped in the package."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import sqlalchemy as sa

from biobank.errors import NotFound, ValidationFailed
from biobank.extensions import db
from biobank.models import KitTemplate, KitTemplateItem, Specimen, TemperatureClass, TubeType


@dataclass(frozen=True)
class CatalogueLoad:
    tube_types_added: int
    tube_types_updated: int
    kits_added: int


def _rows(filename: str) -> list[dict[str, str]]:
    with resources.files("biobank.data").joinpath(filename).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_catalogue() -> CatalogueLoad:
    """Insert or update every tube type and kit from the data files. Safe to run again."""
    existing = {t.code: t for t in db.session.scalars(sa.select(TubeType))}
    added = updated = 0
    for row in _rows("tube_types.csv"):
        values = {
            "description": row["description"],
            "specimen": Specimen(row["specimen"].strip().replace(" ", "_")),
            "volume_ml": Decimal(row["volume_ml"]),
            "additive": row["additive"],
            "cap_color": row["cap_color"],
            "requires_processing": row["requires_processing"].strip().lower() == "true",
            "labels_per_tube": int(row["labels_per_tube"]),
            "ship_temperature": TemperatureClass(row["ship_temperature"]),
            "storage_temperature": row["storage_temperature"],
            "protocol_version": row["protocol_version"],
        }
        tube_type = existing.get(row["code"])
        if tube_type is None:
            tube_type = TubeType(code=row["code"], **values)
            db.session.add(tube_type)
            existing[tube_type.code] = tube_type
            added += 1
        elif any(getattr(tube_type, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(tube_type, key, value)
            updated += 1
    db.session.flush()

    kits_added = 0
    known_kits = {(k.code, k.version) for k in db.session.scalars(sa.select(KitTemplate))}
    for row in _rows("kits.csv"):
        if (row["code"], row["version"]) in known_kits:
            continue  # a published kit version never changes; a new version is a new row
        kit = KitTemplate(code=row["code"], version=row["version"], name=row["name"])
        kit.items = [
            KitTemplateItem(tube_type=existing[code], position=index)
            for index, code in enumerate(row["tube_types"].split(), start=1)
        ]
        db.session.add(kit)
        kits_added += 1
    db.session.flush()
    return CatalogueLoad(added, updated, kits_added)


def list_tube_types(*, include_inactive: bool = False) -> list[TubeType]:
    stmt = sa.select(TubeType).order_by(TubeType.code)
    if not include_inactive:
        stmt = stmt.where(TubeType.active.is_(True))
    return list(db.session.scalars(stmt))


def list_kits(*, include_inactive: bool = False) -> list[KitTemplate]:
    stmt = sa.select(KitTemplate).order_by(KitTemplate.code, KitTemplate.version)
    if not include_inactive:
        stmt = stmt.where(KitTemplate.active.is_(True))
    return list(db.session.scalars(stmt))


def get_kit(code: str, version: str | None = None) -> KitTemplate:
    """The kit with this code: the given version, or the newest active one."""
    stmt = sa.select(KitTemplate).where(KitTemplate.code == code.strip().upper())
    if version is not None:
        stmt = stmt.where(KitTemplate.version == version)
    else:
        stmt = stmt.where(KitTemplate.active.is_(True))
    kits = sorted(
        db.session.scalars(stmt),
        key=lambda k: tuple(int(p) if p.isdigit() else 0 for p in k.version.split(".")),
    )
    if not kits:
        raise NotFound(f"There is no kit {code!r}.")
    return kits[-1]


def tube_types_by_code(codes: Iterable[str], field: str = "tube_types") -> list[TubeType]:
    """The active tube types for these codes, in the order given; unknown codes are a 422."""
    wanted = [code.strip().upper() for code in codes]
    found = {
        t.code: t
        for t in db.session.scalars(
            sa.select(TubeType).where(TubeType.code.in_(wanted), TubeType.active.is_(True))
        )
    }
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise ValidationFailed.for_field(
            field, f"Unknown tube code(s): {', '.join(unknown)}. See GET /api/v1/tube-types."
        )
    return [found[code] for code in wanted]
