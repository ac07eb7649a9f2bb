"""A box's positions (``A1``…: row letter, column number): which are taken, which is next, and the
box drawn as a grid.

Only occupied (or reserved) positions have a row in ``storage_positions``; its unique
constraints are what make "one tube per position, one position per tube" hold when technicians
race."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from biobank.errors import (
    ValidationFailed,
)
from biobank.extensions import db
from biobank.models import (
    Container,
    Sample,
    SampleFlag,
    StoragePosition,
    TubeType,
    position_label,
)
from biobank.services.storage.rackscan import parse_position

# Which kinds may hold which: freezer → shelf / rack → box.


# --- positions ------------------------------------------------------------------------------


def all_positions(box: Container) -> list[tuple[int, int]]:
    """Row by row: A1, A2, … then B1 …"""
    rows, cols = box.grid
    return [(row, col) for row in range(1, rows + 1) for col in range(1, cols + 1)]


def box_range(box: Container) -> str:
    return f"A1–{position_label(*box.grid)}"


def position_field(box: Container, text: str, field: str = "position") -> tuple[int, int]:
    grid = parse_position(text or "")
    if grid is None:
        raise ValidationFailed.for_field(
            field, f"{text!r} is not a position: use a row letter and a column number, e.g. A1."
        )
    row, col = grid
    if row > box.grid[0] or col > box.grid[1]:
        raise ValidationFailed.for_field(
            field,
            f"{position_label(row, col)} is outside box {box.name} ({box.rows} x "
            f"{box.cols}, {box_range(box)}).",
        )
    return grid


def occupied_positions(box: Container) -> dict[tuple[int, int], StoragePosition]:
    return {
        (p.row, p.col): p
        for p in db.session.scalars(
            sa.select(StoragePosition).where(StoragePosition.box_id == box.id)
        )
    }


def next_free(
    box: Container,
    after: tuple[int, int] | None = None,
    *,
    taken: Collection[tuple[int, int]] | None = None,
) -> tuple[int, int] | None:
    """The position a tube goes to when none is chosen: the first free one row by row (after
    ``after``, wrapping round), with ``taken`` read from the box unless given."""
    if taken is None:
        taken = occupied_positions(box).keys()
    for grid in all_positions(box):
        if grid not in taken and (after is None or grid > after):
            return grid
    if after is not None:
        return next_free(box, taken=taken)
    return None


@dataclass(frozen=True)
class Cell:
    position: str
    barcode: str | None = None
    tube_code: str | None = None
    status: str | None = None
    reserved: bool = False
    # The tube's flags (damaged, unexpected, …) by kind, and how often it was thawed: what a
    # technician checks before taking a tube out, visible without opening each one.
    flags: tuple[str, ...] = ()
    thaws: int = 0


def box_grid(box: Container) -> list[list[Cell]]:
    """The box as rows of cells, for drawing it: two queries, whatever the box holds."""
    rows = db.session.execute(
        sa.select(
            StoragePosition.row,
            StoragePosition.col,
            StoragePosition.sample_id,
            Sample.barcode,
            TubeType.code,
            Sample.status,
            Sample.freeze_thaw_count,
        )
        .outerjoin(Sample, Sample.id == StoragePosition.sample_id)
        .outerjoin(TubeType, TubeType.id == Sample.tube_type_id)
        .where(StoragePosition.box_id == box.id)
    ).all()
    flags: dict[int, list[str]] = {}
    if any(row.sample_id is not None for row in rows):
        for sample_id, kind in db.session.execute(
            sa.select(SampleFlag.sample_id, SampleFlag.kind)
            .join(StoragePosition, StoragePosition.sample_id == SampleFlag.sample_id)
            .where(StoragePosition.box_id == box.id)
            .order_by(SampleFlag.sample_id, SampleFlag.kind)
        ):
            flags.setdefault(sample_id, []).append(str(kind))
    contents = {
        (row, col): Cell(
            position_label(row, col),
            barcode,
            tube_code,
            str(status) if status else None,
            reserved=sample_id is None,
            flags=tuple(flags.get(sample_id, ())) if sample_id is not None else (),
            thaws=thaws or 0,
        )
        for row, col, sample_id, barcode, tube_code, status, thaws in rows
    }
    return [
        [contents.get((r, c), Cell(position_label(r, c))) for c in range(1, box.grid[1] + 1)]
        for r in range(1, box.grid[0] + 1)
    ]


def grid_target(box: Container, grid: list[list[Cell]]) -> str | None:
    """Where the next scan into a drawn box goes (``next_free``, read off its grid)."""
    taken = {
        (row_number, col_number)
        for row_number, row in enumerate(grid, start=1)
        for col_number, cell in enumerate(row, start=1)
        if cell.barcode is not None or cell.reserved
    }
    free = next_free(box, taken=taken)
    return position_label(*free) if free else None


def takes_specimen(allowed_specimens: str | None, sample: Sample) -> bool:
    """A box restricted to some specimens (space-separated) takes only those; others any."""
    return not allowed_specimens or str(sample.tube_type.specimen) in allowed_specimens.split()


def accepts(box: Container, sample: Sample) -> bool:
    return takes_specimen(box.allowed_specimens, sample)
