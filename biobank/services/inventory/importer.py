"""Importing an inventory file: every row checked against the catalogue, the freezers and what is
stored, then all written at once (or nothing)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from biobank.db import table_of, utcnow
from biobank.errors import Forbidden, ValidationFailed
from biobank.extensions import db
from biobank.models import (
    Collection,
    CollectionStatus,
    Container,
    ContainerKind,
    EventType,
    Participant,
    Sample,
    SampleStatus,
    Site,
    SiteKind,
    StoragePosition,
    TubeType,
    User,
    position_label,
)
from biobank.services.collecting import participants
from biobank.services.core import ids, policy
from biobank.services.core.custody import record_events_in_bulk
from biobank.services.core.privacy import check_free_text, personal_data_in
from biobank.services.core.samples import samples_by_barcode
from biobank.services.core.timebounds import time_problem
from biobank.services.inventory.inventory_file import (
    DEFAULT_BOX_COLS,
    DEFAULT_BOX_ROWS,
    MAX_BOX_COLS,
    MAX_BOX_ROWS,
    MAX_NOTES,
    MAX_VOLUME_ML,
    PATH_SEPARATOR,
    QUERY_CHUNK,
    REQUIRED,
    REQUIRED_HINTS,
    SOURCE,
    InventoryRefused,
    InventoryReport,
    NewBox,
    ReportRow,
    RowProblem,
    _Line,
    read_inventory_file,
)
from biobank.services.storage import freezer_tree
from biobank.services.storage.rackscan import parse_position

# --- what each row means ----------------------------------------------------------------------


@dataclass(eq=False)
class _PlannedBox:
    """A box rows go into: an existing one, or one the import creates in ``parent``."""

    freezer: Container
    path: str  # inside the freezer
    existing: Container | None = None
    parent: Container | None = None
    name: str | None = None
    size_line: int | None = None  # the first line that gave a size for a new box
    rows: int = DEFAULT_BOX_ROWS
    cols: int = DEFAULT_BOX_COLS

    @property
    def grid(self) -> tuple[int, int]:
        if self.existing is not None and self.existing.rows and self.existing.cols:
            return self.existing.rows, self.existing.cols
        return self.rows, self.cols

    @property
    def label(self) -> str:
        return f"{self.freezer.name} › {self.path}"


@dataclass(eq=False)
class _Row:
    line: int
    raw: dict[str, str]
    problems: list[RowProblem] = field(default_factory=list)
    barcode: str | None = None
    tube_type: TubeType | None = None
    participant_id: str | None = None
    site: Site | None = None
    collected_at: datetime | None = None
    volume_ml: Decimal | None = None
    freezer: Container | None = None
    box: _PlannedBox | None = None
    box_rows: int | None = None
    box_cols: int | None = None
    grid: tuple[int, int] | None = None
    parent_barcode: str | None = None
    parent_row: _Row | None = None
    parent_sample: Sample | None = None
    notes: str | None = None
    collection_key: Any = None

    def text(self, column: str) -> str:
        return self.raw.get(column, "")

    def problem(self, column: str | None, message: str) -> None:
        self.problems.append(RowProblem(column, message))

    @property
    def place(self) -> tuple[int, int]:
        """The (row, column) of a row that passed every check (those rows all have one)."""
        assert self.grid is not None
        return self.grid


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), QUERY_CHUNK):
        yield values[start : start + QUERY_CHUNK]


def _parse_time(text: str) -> tuple[datetime | None, str | None]:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, (
            f"collected_at: {text!r} is not a date and time: write ISO 8601 with a UTC offset, "
            "e.g. 2024-03-01T09:30:00-06:00."
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None, (
            f"collected_at: {text!r} has no UTC offset: add it, e.g. 2024-03-01T09:30:00-06:00 "
            "(or Z for UTC)."
        )
    return moment, None


def _whole_number(row: _Row, column: str) -> int | None:
    text = row.text(column)
    if not text:
        return None
    if not re.fullmatch(r"\d{1,3}", text):
        row.problem(column, f"{column}: {text!r} is not a whole number.")
        return None
    return int(text)


def _read_columns(
    row: _Row,
    *,
    tube_types: dict[str, TubeType],
    sites: dict[str, Site],
    now: datetime,
) -> None:
    """Each column on its own: required, well formed, known to the catalogue and sites."""
    for column in REQUIRED:
        if not row.text(column):
            row.problem(column, f"{column} is empty: {REQUIRED_HINTS[column]}.")
    text = row.text("barcode")
    if text:
        try:
            row.barcode = ids.parse_sample_id(text)
        except ids.InvalidCode:
            row.problem(
                "barcode",
                f"barcode: {text!r} is not a sample ID of this system: leave it blank to assign "
                "a new one.",
            )
    code = row.text("tube_type").upper()
    if code:
        row.tube_type = tube_types.get(code)
        if row.tube_type is None:
            row.problem("tube_type", f"tube_type: {code!r} is not a tube type in the catalogue.")
    text = row.text("participant_id")
    if text:
        try:
            row.participant_id = participants.participant_id_field(text)
        except ValidationFailed:
            row.problem(
                "participant_id",
                f"participant_id: {text!r} is not a participant ID: a participant ID is "
                f"{participants.participant_id_rule()}.",
            )
    code = row.text("collection_site").upper()
    if code:
        row.site = sites.get(code)
        if row.site is None:
            row.problem("collection_site", f"collection_site: no site has the code {code!r}.")
    text = row.text("collected_at")
    if text:
        row.collected_at, trouble = _parse_time(text)
        if row.collected_at is not None:
            trouble = time_problem(row.collected_at, "collected_at", now=now)
        if trouble:
            row.problem("collected_at", trouble)
            row.collected_at = None
    text = row.text("volume_ml")
    if text:
        try:
            row.volume_ml = Decimal(text.replace(",", "."))
        except InvalidOperation:
            row.problem("volume_ml", f"volume_ml: {text!r} is not a volume in mL, e.g. 1.5.")
        else:
            if not row.volume_ml.is_finite() or not 0 <= row.volume_ml <= MAX_VOLUME_ML:
                row.problem("volume_ml", f"volume_ml: {text} is not a volume a tube can hold.")
                row.volume_ml = None
    elif row.tube_type is not None and not row.text("parent_barcode"):
        row.volume_ml = row.tube_type.volume_ml  # an aliquot's volume stays unknown
    row.box_rows = _whole_number(row, "box_rows")
    row.box_cols = _whole_number(row, "box_cols")
    text = row.text("position")
    if text:
        row.grid = parse_position(text)
        if row.grid is None:
            row.problem(
                "position",
                f"position: {text!r} is not a position: use a row letter and a column number, "
                "e.g. A1.",
            )
    text = row.text("parent_barcode")
    if text:
        try:
            row.parent_barcode = ids.parse_sample_id(text)
        except ids.InvalidCode:
            row.problem(
                "parent_barcode", f"parent_barcode: {text!r} is not a sample ID of this system."
            )
    text = row.text("notes")
    if text:
        if len(text) > MAX_NOTES:
            row.problem("notes", f"notes: at most {MAX_NOTES:,} characters.")
        else:
            try:
                row.notes = check_free_text(text, "notes")
            except ValidationFailed as refused:
                row.problem("notes", f"notes: {refused.detail}")


# --- the biobank's freezers --------------------------------------------------------------------


class _Storage:
    """The importing site's storage tree, read once, and the boxes rows name in it."""

    def __init__(self, site: Site) -> None:
        self.site = site
        nodes = db.session.scalars(
            sa.select(Container).where(Container.site_id == site.id).order_by(Container.id)
        ).all()
        self.children: dict[int | None, list[Container]] = defaultdict(list)
        for node in nodes:
            self.children[node.parent_id].append(node)
        self.freezers = [n for n in self.children[None] if n.kind == ContainerKind.FREEZER]
        self.planned: dict[tuple[int, str], _PlannedBox | str] = {}
        self.existing_boxes: dict[int, _PlannedBox] = {}  # one plan per box, however named

    def freezer(self, name: str) -> Container | str:
        exact = [f for f in self.freezers if f.name == name]
        alike = exact or [f for f in self.freezers if f.name.casefold() == name.casefold()]
        if len(alike) == 1:
            found = alike[0]
            if not found.active:
                return f"freezer: {found.name} is deactivated: nothing goes into it."
            return found
        if alike:
            return f"freezer: {len(alike)} freezers are called {name!r}: write the name exactly."
        names = ", ".join(f.name for f in self.freezers[:8]) or "none yet"
        return (
            f"freezer: {self.site.code} has no freezer named {name!r} (its freezers: {names}); "
            "add the freezer first."
        )

    def _below(self, container: Container) -> Iterator[tuple[Container, list[str]]]:
        """Everything inside the container, each with its path below it."""
        for child in self.children[container.id]:
            yield child, [child.name]
            for inner, path in self._below(child):
                yield inner, [child.name, *path]

    def _child_named(self, parent: Container, name: str) -> list[Container]:
        kids = self.children[parent.id]
        exact = [c for c in kids if c.name == name]
        return exact or [c for c in kids if c.name.casefold() == name.casefold()]

    def box(self, freezer: Container, text: str) -> _PlannedBox | str:
        """The box a row names (planned once per freezer and name), or why it cannot be."""
        key = (freezer.id, " › ".join(PATH_SEPARATOR.split(text.strip())).casefold())
        if key not in self.planned:
            self.planned[key] = self._plan_box(freezer, PATH_SEPARATOR.split(text.strip()))
        return self.planned[key]

    def _plan_box(self, freezer: Container, segments: list[str]) -> _PlannedBox | str:
        if any(not 1 <= len(segment) <= 100 for segment in segments):
            return "box: each name in a box's path has 1 to 100 characters."
        *above, name = segments
        if not above:
            boxes = [
                (node, path)
                for node, path in self._below(freezer)
                if node.kind == ContainerKind.BOX and node.name.casefold() == name.casefold()
            ]
            exact = [(node, path) for node, path in boxes if node.name == name]
            boxes = exact or boxes
            if len(boxes) > 1:
                paths = "; ".join(" › ".join(path) for _, path in boxes[:5])
                return (
                    f"box: {freezer.name} holds {len(boxes)} boxes named {name!r} ({paths}): "
                    "write the box's path inside the freezer, e.g. 'Shelf 1 › Box 1'."
                )
            if boxes:
                return self._existing(freezer, *boxes[0])
            return self._new(freezer, freezer, [], name)
        parent = freezer
        for depth, segment in enumerate(above):
            found = [c for c in self._child_named(parent, segment) if c.kind != ContainerKind.BOX]
            if len(found) != 1:
                where = " › ".join([freezer.name, *above[: depth + 1]])
                return (
                    f"box: there is no {where}: add it first, or give the box's name alone "
                    "to have the box made directly in the freezer."
                )
            parent = found[0]
        found = self._child_named(parent, name)
        if len(found) == 1 and found[0].kind == ContainerKind.BOX:
            return self._existing(freezer, found[0], segments)
        if found:
            return f"box: {' › '.join([freezer.name, *segments])} is a {found[0].kind}, not a box."
        return self._new(freezer, parent, above, name)

    def _existing(self, freezer: Container, box: Container, path: list[str]) -> _PlannedBox | str:
        if not box.active:
            return f"box: {freezer.name} › {' › '.join(path)} is deactivated: choose another box."
        if box.id not in self.existing_boxes:
            self.existing_boxes[box.id] = _PlannedBox(freezer, " › ".join(path), existing=box)
        return self.existing_boxes[box.id]

    def _new(
        self, freezer: Container, parent: Container, above: list[str], name: str
    ) -> _PlannedBox | str:
        path = " › ".join([*above, name])
        if not parent.active:
            return (
                f"box: {freezer.name} › {' › '.join(above)} is deactivated: nothing goes into it."
            )
        if self._child_named(parent, name):
            return f"box: {freezer.name} › {path} exists and is not a box."
        found = personal_data_in(name)
        if found:
            return f"box: remove {' and '.join(found)} from the box name: no personal data here."
        return _PlannedBox(freezer, path, parent=parent, name=name)


def _place_in_box(row: _Row, store: _Storage) -> None:
    """The row's freezer and box; sizes a new box from the first line that gives one."""
    name = row.text("freezer")
    if name:
        found = store.freezer(name)
        if isinstance(found, str):
            row.problem("freezer", found)
        else:
            row.freezer = found
    if row.freezer is None or not row.text("box"):
        return
    planned = store.box(row.freezer, row.text("box"))
    if isinstance(planned, str):
        row.problem("box", planned)
        return
    row.box = planned
    given = {"box_rows": row.box_rows, "box_cols": row.box_cols}
    if planned.existing is not None:
        actual = {"box_rows": planned.existing.rows, "box_cols": planned.existing.cols}
        for column, value in given.items():
            if value is not None and value != actual[column]:
                what = "rows" if column == "box_rows" else "columns"
                row.problem(
                    column,
                    f"{column}: box {planned.label} exists with {actual[column]} {what}, "
                    f"not {value}.",
                )
        return
    if row.box_rows is None and row.box_cols is None:
        return
    if planned.size_line is None:
        planned.size_line = row.line
        planned.rows = row.box_rows or DEFAULT_BOX_ROWS
        planned.cols = row.box_cols or DEFAULT_BOX_COLS
        if not 1 <= planned.rows <= MAX_BOX_ROWS:
            row.problem("box_rows", "box_rows: a box has 1 to 26 rows (A to Z).")
        if not 1 <= planned.cols <= MAX_BOX_COLS:
            row.problem("box_cols", "box_cols: a box has 1 to 99 columns.")
        return
    for column, value, first in (
        ("box_rows", row.box_rows, planned.rows),
        ("box_cols", row.box_cols, planned.cols),
    ):
        if value is not None and value != first:
            row.problem(
                column,
                f"{column}: line {planned.size_line} makes box {planned.label} "
                f"{planned.rows} x {planned.cols}; this line says {value}.",
            )


# --- checks across rows and against what is stored ------------------------------------------


def _occupied(boxes: Iterable[Container]) -> dict[tuple[int, int, int], str | None]:
    """(box id, row, col) → the barcode there (None: reserved) for the boxes rows go into."""
    wanted = sorted({box.id for box in boxes})
    taken: dict[tuple[int, int, int], str | None] = {}
    for chunk in _chunks(wanted):
        for box_id, row, col, barcode in db.session.execute(
            sa.select(
                StoragePosition.box_id, StoragePosition.row, StoragePosition.col, Sample.barcode
            )
            .outerjoin(Sample, Sample.id == StoragePosition.sample_id)
            .where(StoragePosition.box_id.in_(chunk))
        ):
            taken[(box_id, row, col)] = barcode
    return taken


def _withdrawn(participant_ids: Iterable[str]) -> dict[str, Participant]:
    wanted = sorted(set(participant_ids))
    found: dict[str, Participant] = {}
    for chunk in _chunks(wanted):
        found |= {
            p.participant_id: p
            for p in db.session.scalars(
                sa.select(Participant).where(
                    Participant.participant_id.in_(chunk), Participant.withdrawn_at.is_not(None)
                )
            )
        }
    return found


def _lines(rows: list[_Row]) -> str:
    numbers = [str(row.line) for row in rows]
    return f"line{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"


def _check_position(
    row: _Row, occupied: dict[tuple[int, int, int], str | None], specimen_of: dict[int, str]
) -> None:
    box, grid = row.box, row.grid
    if box is None or grid is None:
        return
    rows, cols = box.grid
    if grid[0] > rows or grid[1] > cols:
        row.problem(
            "position",
            f"position: {position_label(*grid)} is outside box {box.label} ({rows} x {cols}, "
            f"A1–{position_label(rows, cols)}).",
        )
        return
    if box.existing is None:
        return
    key = (box.existing.id, *grid)
    if key in occupied:
        holder = occupied[key]
        what = f"tube {ids.display(holder)}" if holder else "a reservation"
        row.problem(
            "position",
            f"position: {position_label(*grid)} in box {box.label} holds {what} already.",
        )
    allowed = box.existing.allowed_specimens
    if allowed and row.tube_type is not None:
        specimen = specimen_of[row.tube_type.id]
        if specimen not in allowed.split():
            row.problem(
                "box",
                f"box: {box.label} takes {allowed.replace(' ', ', ').replace('_', ' ')} only; "
                f"a {row.tube_type.code} tube is {specimen.replace('_', ' ')}.",
            )


def _check_repeats(rows: list[_Row]) -> None:
    """The same tube, or the same position, on more than one line."""
    by_barcode: dict[str, list[_Row]] = defaultdict(list)
    by_position: dict[tuple[int, tuple[int, int]], list[_Row]] = defaultdict(list)
    for row in rows:
        if row.barcode:
            by_barcode[row.barcode].append(row)
        if row.box is not None and row.grid is not None:
            by_position[(id(row.box), row.grid)].append(row)
    for barcode, same in by_barcode.items():
        for row in same if len(same) > 1 else ():
            others = [other for other in same if other is not row]
            row.problem(
                "barcode",
                f"barcode: {ids.display(barcode)} is also on {_lines(others)}: each tube goes "
                "on one line.",
            )
    for (_, grid), same in by_position.items():
        for row in same if len(same) > 1 else ():
            assert row.box is not None  # grouped by its box
            others = [other for other in same if other is not row]
            row.problem(
                "position",
                f"position: {position_label(*grid)} in box {row.box.label} is also given on "
                f"{_lines(others)}: one tube per position.",
            )


def _check_parents(rows: list[_Row], known: dict[str, Sample], site: Site) -> None:
    """Each parent is another row or a tube at this biobank; no loops; same participant."""
    by_barcode = {row.barcode: row for row in rows if row.barcode}
    for row in rows:
        if row.parent_barcode is None:
            continue
        if row.parent_barcode == row.barcode:
            row.problem("parent_barcode", "parent_barcode: a tube cannot be its own parent.")
            continue
        row.parent_row = by_barcode.get(row.parent_barcode)
        if row.parent_row is None:
            sample = known.get(row.parent_barcode)
            if sample is None or sample.custody_site_id != site.id:
                row.problem(
                    "parent_barcode",
                    f"parent_barcode: {ids.display(row.parent_barcode)} is neither the barcode "
                    f"of another line of this file nor a tube at {site.code}.",
                )
                continue
            row.parent_sample = sample
    for row in rows:
        seen, current = {id(row)}, row.parent_row
        while current is not None:
            if id(current) in seen:
                row.problem(
                    "parent_barcode",
                    "parent_barcode: the parents of this line lead back to it (a loop): a tube "
                    "cannot descend from itself.",
                )
                break
            seen.add(id(current))
            current = current.parent_row
    for row in rows:
        parent_participant, parent_site, which = _parent_origin(row)
        if which is None:
            continue
        if row.participant_id and parent_participant and row.participant_id != parent_participant:
            row.problem(
                "participant_id",
                f"participant_id: {row.participant_id} is not the participant of its parent "
                f"({parent_participant}, {which}).",
            )
        if row.site is not None and parent_site is not None and row.site.id != parent_site.id:
            row.problem(
                "collection_site",
                f"collection_site: an aliquot comes from its parent's site ({parent_site.code}, "
                f"{which}), not {row.site.code}.",
            )


def _parent_origin(row: _Row) -> tuple[str | None, Site | None, str | None]:
    if row.parent_row is not None:
        parent = row.parent_row
        return parent.participant_id, parent.site, f"line {parent.line}"
    if row.parent_sample is not None:
        sample = row.parent_sample
        participant = sample.collection.participant_id if sample.collection else None
        return participant, sample.site, f"tube {sample.display_barcode}"
    return None, None, None


def _collection_keys(rows: list[_Row]) -> None:
    """Which collection each tube joins: its own participant's (participant, site, local
    collection date), else its parent's; existing collections are referred to by id."""

    def key(row: _Row, depth: int = 0) -> Any:
        if row.collection_key is not None or depth > len(rows):
            return row.collection_key
        if row.participant_id and row.site is not None:
            day: date | None = None
            if row.collected_at is not None:
                day = row.collected_at.astimezone(ZoneInfo(row.site.timezone)).date()
            row.collection_key = ("new", row.participant_id, row.site.id, day)
        elif row.parent_row is not None:
            row.collection_key = key(row.parent_row, depth + 1)
        elif row.parent_sample is not None and row.parent_sample.collection_id is not None:
            row.collection_key = ("existing", row.parent_sample.collection_id)
        return row.collection_key

    for row in rows:
        key(row)


def _plan(actor: User, lines: list[_Line]) -> tuple[list[_Row], dict[str, Participant]]:
    now = utcnow()
    tube_types = {
        t.code: t for t in db.session.scalars(sa.select(TubeType).where(TubeType.active.is_(True)))
    }
    specimen_of = {t.id: str(t.specimen) for t in tube_types.values()}
    sites = {s.code.upper(): s for s in db.session.scalars(sa.select(Site))}
    store = _Storage(actor.site)
    rows = [_Row(line.number, line.values) for line in lines]
    for row, line in zip(rows, lines, strict=True):
        if line.surplus:
            row.problem(
                None,
                f"The line has {line.surplus} value{'s' if line.surplus > 1 else ''} more than "
                "the header has columns: quote values that hold the delimiter.",
            )
        _read_columns(row, tube_types=tube_types, sites=sites, now=now)
        _place_in_box(row, store)
    occupied = _occupied(row.box.existing for row in rows if row.box and row.box.existing)
    known = samples_by_barcode(
        [row.barcode for row in rows if row.barcode]
        + [row.parent_barcode for row in rows if row.parent_barcode]
    )
    for row in rows:
        _check_position(row, occupied, specimen_of)
        if row.barcode and row.barcode in known:
            row.problem(
                "barcode",
                f"barcode: {ids.display(row.barcode)} is already a tube in this system: an "
                "import brings only tubes the system does not know yet (check the label).",
            )
    _check_repeats(rows)
    _check_parents(rows, known, actor.site)
    _collection_keys(rows)
    withdrawn = _withdrawn(row.participant_id for row in rows if row.participant_id)
    return rows, withdrawn


# --- the report ---------------------------------------------------------------------------------


def _where(row: _Row) -> str:
    if row.box is None or row.grid is None:
        return ""
    return f"{row.box.label} › {position_label(*row.grid)}"


def _report_row(
    row: _Row, withdrawn: dict[str, Participant], stored_as: str | None = None
) -> ReportRow:
    """The row as the report shows it: before applying, or (``stored_as``) once stored."""
    if stored_as is not None:
        barcode: str | None = stored_as
        notice = f"Stored at {_where(row)}."
        if not row.barcode:
            notice = (
                f"New ID {ids.display(stored_as)}: print its label and put it on the tube. {notice}"
            )
    else:
        barcode = row.barcode or (row.text("barcode") or None)
        notice = (
            f"Goes into {_where(row)}"
            + (" (a new box)" if row.box and row.box.existing is None else "")
            + "."
            + ("" if row.barcode else " A new ID is assigned: the tube will need a new label.")
        )
    if row.participant_id in withdrawn:
        notice += (
            f" Participant {row.participant_id} has withdrawn: the tube is flagged for disposal."
        )
    if row.parent_barcode and (row.parent_row is not None or row.parent_sample is not None):
        notice += f" Aliquot of {ids.display(row.parent_barcode)}."
    return ReportRow(
        line=row.line,
        barcode=barcode,
        new_id=not row.barcode,
        tube_type=row.text("tube_type").upper(),
        freezer=row.freezer.name if row.freezer else row.text("freezer"),
        box=row.box.path if row.box else row.text("box"),
        position=position_label(*row.grid) if row.grid else row.text("position"),
        problems=tuple(row.problems),
        notice=notice,
    )


def _new_boxes(rows: list[_Row]) -> list[_PlannedBox]:
    boxes = {id(row.box): row.box for row in rows if row.box and row.box.existing is None}
    return list(boxes.values())


def _new_collection_count(rows: list[_Row]) -> int:
    return len(
        {
            row.collection_key
            for row in rows
            if row.collection_key and row.collection_key[0] == "new"
        }
    )


# --- the service ----------------------------------------------------------------------------------


def import_inventory(actor: User, data: bytes, *, apply: bool) -> InventoryReport:
    """Check an inventory file row by row; with ``apply``, import every tube or none.

    Raises ``ValidationFailed`` (field ``file``) for a file that cannot be read, and
    ``InventoryRefused`` (409, carrying the report) when applying a file with any error.
    """
    policy.require_own_site(actor, actor.site, policy.Action.MANAGE_STORAGE)
    if actor.site.kind != SiteKind.BIOBANK:
        raise Forbidden(
            f"An inventory is imported into a biobank's freezers; {actor.site.code} is a "
            f"{actor.site.kind} site."
        )
    lines, ignored = read_inventory_file(data)
    rows, withdrawn = _plan(actor, lines)
    new_boxes = _new_boxes(rows)
    report = InventoryReport(
        rows=[_report_row(row, withdrawn) for row in rows],
        new_boxes=[NewBox(b.freezer.name, b.path, b.rows, b.cols) for b in new_boxes],
        collections=_new_collection_count(rows),
        ignored_columns=ignored,
        applied=False,
    )
    if not apply:
        return report
    if not report.ok:
        errors = report.counts["error"]
        raise InventoryRefused(
            f"Nothing was imported: {errors} line{'s' if errors != 1 else ''} of the file "
            f"{'have' if errors != 1 else 'has'} errors. Fix them and check the file again.",
            report=report.as_dict(),
        )
    try:
        with db.session.begin_nested():
            barcodes, collections = _write(actor, rows, new_boxes, withdrawn)
    except IntegrityError:
        raise InventoryRefused(
            "The freezer changed while the file was being imported (someone stored a tube or "
            "added a box where the file puts one): nothing was imported; check the file again.",
        ) from None
    return InventoryReport(
        rows=[
            _report_row(row, withdrawn, barcode)
            for row, barcode in zip(rows, barcodes, strict=True)
        ],
        new_boxes=report.new_boxes,
        collections=collections,
        ignored_columns=ignored,
        applied=True,
    )


def _fresh_ids(count: int) -> list[str]:
    def taken(candidates: list[str]) -> set[str]:
        return set(samples_by_barcode(candidates))

    return ids.unique_codes(count, ids.new_sample_id, taken)


def _generations(rows: list[_Row]) -> list[list[int]]:
    """Row indexes by depth in the parent tree: parents are inserted before their aliquots."""
    depth: dict[int, int] = {}

    def level(row: _Row) -> int:
        if id(row) not in depth:
            depth[id(row)] = 0 if row.parent_row is None else level(row.parent_row) + 1
        return depth[id(row)]

    levels: dict[int, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        levels[level(row)].append(index)
    return [levels[d] for d in sorted(levels)]


def _insert(model: type, values: list[dict[str, Any]]) -> None:
    """Rows straight into the model's table (executemany: no ORM object for each)."""
    if values:
        db.session.connection().execute(sa.insert(table_of(model)), values)


def _insert_returning_ids(model: type, values: list[dict[str, Any]]) -> list[int]:
    """Rows straight into the model's table, in batched statements; their ids, in order."""
    if not values:
        return []
    table = table_of(model)
    statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.connection().execute(statement, values).scalars())


def _write(
    actor: User,
    rows: list[_Row],
    new_boxes: list[_PlannedBox],
    withdrawn: dict[str, Participant],
) -> tuple[list[str], int]:
    """Everything the checked file describes, in the caller's transaction; the tubes' barcodes
    and the number of collections made.

    Boxes are made one by one through ``freezer_tree.create_container`` (there are few); tubes,
    positions and their events go in as rows in a few statements each (a file holds thousands).
    """
    now = utcnow()
    boxes: dict[int, Container] = {}
    for planned in new_boxes:
        assert planned.parent is not None and planned.name  # planned only when both are known
        boxes[id(planned)] = freezer_tree.create_container(
            actor,
            parent_id=planned.parent.id,
            kind=ContainerKind.BOX,
            name=planned.name,
            rows=planned.rows,
            cols=planned.cols,
        )
    for row in rows:
        if row.box is not None and row.box.existing is not None:
            boxes[id(row.box)] = row.box.existing

    lines_of: dict[Any, list[int]] = defaultdict(list)
    for row in rows:
        if row.collection_key and row.collection_key[0] == "new":
            lines_of[row.collection_key].append(row.line)
    keys = list(lines_of)
    made = _insert_returning_ids(
        Collection,
        [
            {
                "participant_id": participant_id,
                "site_id": site_id,
                "status": CollectionStatus.FINALIZED,
                "created_by_id": actor.id,
                "created_at": now,
            }
            for _, participant_id, site_id, _ in keys
        ],
    )
    collection_ids = dict(zip(keys, made, strict=True))

    def collection_id(row: _Row) -> int | None:
        key = row.collection_key
        if key is None:
            return None
        return collection_ids[key] if key[0] == "new" else key[1]

    fresh = iter(_fresh_ids(sum(1 for row in rows if not row.barcode)))
    barcodes = [row.barcode or next(fresh) for row in rows]
    index_of = {id(row): index for index, row in enumerate(rows)}
    sample_ids: list[int | None] = [None] * len(rows)
    for generation in _generations(rows):
        values = []
        for index in generation:
            row = rows[index]
            assert row.tube_type is not None and row.site is not None  # checked rows only
            parent_id = row.parent_sample.id if row.parent_sample is not None else None
            if row.parent_row is not None:
                parent_id = sample_ids[index_of[id(row.parent_row)]]
            values.append(
                {
                    "barcode": barcodes[index],
                    "tube_type_id": row.tube_type.id,
                    "collection_id": collection_id(row),
                    "parent_id": parent_id,
                    "site_id": row.site.id,
                    "custody_site_id": actor.site_id,
                    "status": SampleStatus.STORED,
                    "volume_ml": row.volume_ml,
                    "collected_at": row.collected_at,
                    "stored_at": now,
                    "freeze_thaw_count": 0,
                    "created_at": now,
                }
            )
        for index, sample_id in zip(generation, _insert_returning_ids(Sample, values), strict=True):
            sample_ids[index] = sample_id

    _insert(
        StoragePosition,
        [
            {
                "box_id": boxes[id(row.box)].id,
                "row": row.place[0],
                "col": row.place[1],
                "sample_id": sample_id,
                "stored_at": now,
                "stored_by_id": actor.id,
            }
            for row, sample_id in zip(rows, sample_ids, strict=True)
        ],
    )

    events: list[dict[str, Any]] = [
        {
            "type": EventType.CREATED,
            "collection_id": collection_ids[key],
            "details": {"imported": True, "source": SOURCE, "lines": lines_of[key]},
        }
        for key in keys
    ]
    paths = {id(box): freezer_tree.path_text(box) for box in boxes.values()}
    for row, made_id in zip(rows, sample_ids, strict=True):
        assert made_id is not None and row.tube_type is not None  # inserted above
        created: dict[str, Any] = {
            "imported": True,
            "source": SOURCE,
            "line": row.line,
            "tube_type": row.tube_type.code,
        }
        if not row.barcode:
            created["new_id"] = True
        if row.parent_barcode:
            created["aliquot_of"] = row.parent_barcode
        if row.notes:
            created["notes"] = row.notes
        box = boxes[id(row.box)]
        stored = {
            "box": box.name,
            "position": position_label(*row.place),
            "path": paths[id(box)],
            "source": SOURCE,
            "line": row.line,
        }
        events.append({"type": EventType.CREATED, "sample_id": made_id, "details": created})
        events.append(
            {
                "type": EventType.STORED,
                "sample_id": made_id,
                "container_id": box.id,
                "details": stored,
            }
        )
    record_events_in_bulk(events, actor=actor, at=now)
    for participant in withdrawn.values():
        participants.flag_for_disposal(actor, participant)
    return barcodes, len(keys)
